"""What one account may hold at once, so that no one starves the others of disk or workers.

- Stored bytes (COGMILL_STORAGE_QUOTA_BYTES): its files that have not expired (uploads, run
  outputs, trained weights) and the bundles of its models' versions (hidden ones too: their
  bundles stay while runs point at them). A new upload or push that would pass the quota is
  refused, and so is a new run once the account is at it (a run's outputs are stored bytes too).
  Nothing already stored is ever dropped for the quota, and a run that has started always keeps
  its outputs: an account may end up a little over it.
- Runs in progress (COGMILL_MAX_ACTIVE_RUNS): predictions and trainings it made that have not
  ended. One more is refused with a Retry-After until one ends.

0 turns either off.
"""

from django.conf import settings
from django.template.defaultfilters import filesizeformat
from django.utils import timezone

from cogmill import sql
from playground.errors import StorageFull, TooManyRunning
from playground.models import File, Model, Prediction, Status, Training, Version

ACTIVE = (Status.STARTING, Status.PROCESSING)
RETRY_AFTER_SECONDS = 10


def _stored(account) -> tuple[str, list]:
    """The SQL of what an account stores: its live files (with content) and its models' version
    bundles (trained versions' weights are files), two sums."""
    file, version, model = (sql.quote(kind._meta.db_table) for kind in (File, Version, Model))
    return (f"(SELECT COALESCE(SUM(size), 0) FROM {file} WHERE owner_id = %s AND content <> '' "
            f"AND (expires_at IS NULL OR expires_at > %s)), "
            f"(SELECT COALESCE(SUM(v.bundle_bytes), 0) FROM {version} v JOIN {model} m ON m.id = v.model_id "
            f"WHERE m.owner_id = %s AND v.base_id IS NULL)",
            [account.pk, sql.value(File, "expires_at", timezone.now()), account.pk])


def _active(user) -> tuple[str, list]:
    """The SQL of how many predictions and trainings `user` made that have not ended."""
    counts = " + ".join(
        f"(SELECT COUNT(*) FROM {sql.quote(kind._meta.db_table)} WHERE owner_id = %s AND status IN (%s, %s))"
        for kind in (Prediction, Training))
    return counts, [user.pk, *ACTIVE, user.pk, *ACTIVE]


def stored_bytes(account) -> int:
    """The bytes an account stores (one statement on the cursor)."""
    statement, params = _stored(account)
    (files, bundles), = sql.fetch(f"SELECT {statement}", params)
    return int(files) + int(bundles)


def check_new_run(user) -> None:
    """What a new run of `user` must pass (TooManyRunning, then StorageFull), in one statement: every
    new run asks."""
    cap, quota = settings.COGMILL_MAX_ACTIVE_RUNS, settings.COGMILL_STORAGE_QUOTA_BYTES
    parts = [_active(user) if cap > 0 else ("0", []), _stored(user) if quota > 0 else ("0, 0", [])]
    (active, files, bundles), = sql.fetch(f"SELECT {', '.join(p for p, _ in parts)}", [*parts[0][1], *parts[1][1]])
    if cap > 0:
        _refuse_past_cap(user, int(active), cap)
    if quota > 0:
        _refuse_past_quota(user, int(files) + int(bundles), 0, quota)


def check_storage(account, adding: int = 0) -> None:
    """StorageFull when storing `adding` more bytes would take `account` past its quota (for a new
    run, adding nothing: refused once the account is at it)."""
    quota = settings.COGMILL_STORAGE_QUOTA_BYTES
    if quota > 0:
        _refuse_past_quota(account, stored_bytes(account), adding, quota)


def _refuse_past_quota(account, used: int, adding: int, quota: int) -> None:
    if used + adding > quota or (adding == 0 and used >= quota):
        raise StorageFull(
            f"{account.username} stores {_size(used)} of its {_size(quota)} quota"
            + (f" and this adds {_size(adding)}" if adding else "")
            + ": delete uploads, models or versions nobody has run, or remove predictions' data, to make room.")


def _refuse_past_cap(user, active: int, cap: int) -> None:
    if active >= cap:
        raise TooManyRunning(
            f"{user.username} already has {active} runs in progress, the most one account may have; "
            f"retry in {RETRY_AFTER_SECONDS} s, when one has ended.", retry_after=RETRY_AFTER_SECONDS)


def _size(n: int) -> str:
    return filesizeformat(n).replace("\xa0", " ")
