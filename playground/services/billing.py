"""Spend: prices in force, the ledger of what runs cost, monthly hard limits and their alerts, usage.

- Who pays: the person who started the run, unless it ran a model or deployment of an organization
  they belong to: then the organization (`account_for`).
- What it costs: its seconds (`predict_time`) × the price per second its hardware had when the run
  started (`HardwarePrice`), as a Decimal; written once, in the transaction that ends the run.
- Limits: a create takes the account's (and token's) limit row FOR UPDATE in its own transaction
  before it inserts the run, and counts this month's ledger plus a reservation for every run of the
  account still going (COGMILL_SPEND_RESERVE_SECONDS at its hardware's price). Creates for one
  account so take turns, and each sees the runs the others made: two can not both fit under room
  for one. (SQLite takes turns anyway: every write transaction there is IMMEDIATE.)

Runs call billing; billing never calls runs.
"""

import datetime as dt
import functools
import logging
import math
from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import IntegrityError, connection, transaction
from django.db.transaction import TransactionManagementError
from django.utils import timezone

from accounts.models import ApiToken, Membership, User
from accounts.services import is_admin, is_member
from cogmill import sql
from playground.errors import Forbidden, SpendLimitReached
from playground.models import (
    LIVE,
    RUN_KINDS,
    Deployment,
    DeploymentRelease,
    Hardware,
    HardwarePrice,
    Instance,
    InstanceHour,
    InstanceState,
    Model,
    Run,
    SpendEntry,
    SpendLimit,
)

log = logging.getLogger(__name__)
CENT = Decimal("0.01")
LEDGER_PLACES = Decimal("0.00000001")
SECOND_PLACES = Decimal("0.001")
ALERT_PERCENTS = (80, 100)
FIRST_PRICE_FROM = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)  # as the migration dates the first prices


def account_for(user, owner) -> User:
    """Who pays for `user` running something `owner` owns: an organization pays for its members."""
    if owner is not None and owner.is_organization and is_member(user, owner):
        return owner
    return user


# ---------------------------------------------------------------- prices

def price_in_force(hardware: Hardware, at: dt.datetime) -> Decimal:
    """The price `hardware` had at `at` (every run's end asks: one statement on the cursor)."""
    rows = sql.fetch(
        f"SELECT price_per_second FROM {sql.quote(HardwarePrice._meta.db_table)} WHERE hardware_id = %s "
        "AND valid_from <= %s ORDER BY valid_from DESC, id DESC LIMIT 1",
        [hardware.pk, sql.value(HardwarePrice, "valid_from", at)])
    return sql.read(HardwarePrice, "price_per_second", rows[0][0]) if rows else hardware.price_per_second


def set_price(hardware: Hardware, price_per_second: Decimal, at: dt.datetime | None = None) -> HardwarePrice:
    """A new price from `at` (now) on: runs that started before keep the old one."""
    with transaction.atomic():
        if not hardware.prices.exists():  # the price so far, for runs that started before this one
            HardwarePrice.objects.create(hardware=hardware, price_per_second=hardware.price_per_second,
                                         valid_from=FIRST_PRICE_FROM)
        price = HardwarePrice.objects.create(hardware=hardware, price_per_second=price_per_second,
                                             valid_from=at or timezone.now())
        Hardware.objects.filter(pk=hardware.pk).update(price_per_second=price_per_second)
    hardware.price_per_second = price_per_second
    return price


# ---------------------------------------------------------------- limits

def month_start(now: dt.datetime | None = None) -> dt.datetime:
    now = timezone.localtime(now or timezone.now())
    return now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def hold(account: User, token, sku: str, user=None) -> None:
    """Inside a create's transaction, before its run is inserted: refuse it (SpendLimitReached) if
    the account's or the token's monthly limit leaves no room for one more run on `sku`. A person
    whose own limit staff set (locked) is held to it for runs an organization pays for too. The
    amounts are said to those who may see the account's spend (itself, its admins)."""
    limits = _limits_held_to(account, token, user)
    if not limits:
        return
    prices = _prices()
    reserve = reservation(sku, prices)
    for limit in limits:
        by = ("account_id", limit.account_id) if limit.account_id is not None else ("token_id", limit.token_id)
        spent = _spent_or_held(*by, prices)
        if spent + reserve <= limit.monthly_limit:
            continue
        whose = ("this API token's" if limit.token_id else
                 "your" if user is None or limit.account_id == user.pk else f"{limit.account.username}'s")
        if user is not None and limit.account_id not in (None, user.pk) and not is_admin(user, limit.account):
            raise SpendLimitReached(f"Monthly spend limit reached: {whose} monthly limit has no room for "
                                    "another run; ask its admins")
        spent = spent.quantize(CENT, ROUND_HALF_UP)
        raise SpendLimitReached(
            f"Monthly spend limit reached: {whose} limit is ${limit.monthly_limit:.2f} and "
            f"${spent:.2f} is spent or held by runs still going this month", limit=limit.monthly_limit, spend=spent)


def _limits_held_to(account: User, token, user) -> list[SpendLimit]:
    """The limits a create is held to, locked until its transaction ends (every create asks: one
    statement on the cursor)."""
    which, params = ["account_id = %s"], [account.pk]
    if token is not None:
        which.append("token_id = %s")
        params.append(token.pk)
    if user is not None and user.pk != account.pk:
        which.append("(account_id = %s AND locked = %s)")
        params += [user.pk, True]
    table = _limit_table()
    lock = " FOR UPDATE" if connection.features.has_select_for_update else ""
    if lock and not connection.in_atomic_block:  # as the ORM's select_for_update: a lock needs a transaction
        raise TransactionManagementError("a create's spend limits are locked inside its transaction")
    rows = sql.fetch(f"SELECT {table.columns()} FROM {sql.quote(table.name)} WHERE monthly_limit IS NOT NULL "
                     f"AND ({' OR '.join(which)}) ORDER BY id{lock}", params)
    return [table.instance(row) for row in rows]


def reservation(sku: str, prices: dict[str, Decimal] | None = None) -> Decimal:
    """What a run is counted at until it ends: COGMILL_SPEND_RESERVE_SECONDS at its hardware's price
    (from `prices`, when the caller read them already)."""
    price = (_prices() if prices is None else prices).get(sku, Decimal(0))
    return price * Decimal(str(settings.COGMILL_SPEND_RESERVE_SECONDS))


def _prices() -> dict[str, Decimal]:
    """Each hardware SKU's price per second now."""
    return {sku: sql.read(Hardware, "price_per_second", price) for sku, price in
            sql.fetch(f"SELECT sku, price_per_second FROM {sql.quote(Hardware._meta.db_table)}", [])}


def spent_or_held_this_month(account: User | None = None, token=None, now: dt.datetime | None = None) -> Decimal:
    """This month's ledger for an account (or a token), plus the reservation of its runs still going."""
    by = ("account_id", account.pk) if account is not None else ("token_id", token.pk)
    return _spent_or_held(*by, _prices(), now)


def _spent_or_held(column: str, key: int, prices: dict[str, Decimal], now: dt.datetime | None = None) -> Decimal:
    """spent_or_held_this_month of the runs and entries whose `column` (account_id or token_id) is
    `key`: two statements on the cursor, as every create under a limit asks."""
    held = sum((reservation(sku, prices) * count
                for sku, count in sql.fetch(_held_statement(column), [key, *LIVE] * len(RUN_KINDS))), Decimal(0))
    return _ledger_this_month(column, key, now) + held


def _ledger_this_month(column: str, key: int, now: dt.datetime | None = None) -> Decimal:
    """The month's ledger entries whose `column` (account_id or token_id) is `key`, summed on the cursor
    (every create under a limit, every run's spend alert and every page's spend banner ask)."""
    ledger = sql.quote(SpendEntry._meta.db_table)
    ((spent,),) = sql.fetch(f"SELECT COALESCE(SUM(cost), 0) FROM {ledger} WHERE {column} = %s AND created_at >= %s",
                            [key, sql.value(SpendEntry, "created_at", month_start(now))])
    return sql.read(SpendEntry, "cost", spent)


@functools.cache
def _held_statement(column: str) -> str:
    """The runs of every kind still going of one account (or token), counted by the SKU they run on:
    a deployment's hardware, else their model's, else CPU."""
    model, hardware = sql.quote(Model._meta.db_table), sql.quote(Hardware._meta.db_table)
    release = sql.quote(DeploymentRelease._meta.db_table)
    counts = []
    for kind in RUN_KINDS:
        through_release = any(field.name == "release" for field in kind._meta.concrete_fields)
        sku = "COALESCE(rh.sku, mh.sku, 'cpu')" if through_release else "COALESCE(mh.sku, 'cpu')"
        joins = (f"LEFT JOIN {release} dr ON dr.id = r.release_id LEFT JOIN {hardware} rh ON rh.id = dr.hardware_id "
                 if through_release else "")
        counts.append(
            f"SELECT {sku}, COUNT(*) FROM {sql.quote(kind._meta.db_table)} r JOIN {model} m ON m.id = r.model_id "
            f"LEFT JOIN {hardware} mh ON mh.id = m.hardware_id {joins}"
            f"WHERE r.{column} = %s AND r.status IN (%s, %s) GROUP BY {sku}")
    return " UNION ALL ".join(counts)


def spent_this_month(account: User, now: dt.datetime | None = None) -> Decimal:
    """The ledger alone (what ran), this month."""
    return _ledger_this_month("account_id", account.pk, now)


def limit_of(account: User | int) -> SpendLimit | None:
    """The monthly limit of an account (or of the account of this id), if it has one (every run's
    end asks: one statement on the cursor)."""
    table = _limit_table()
    rows = sql.fetch(f"SELECT {table.columns()} FROM {sql.quote(table.name)} WHERE account_id = %s "
                     "AND monthly_limit IS NOT NULL ORDER BY id LIMIT 1",
                     [account.pk if isinstance(account, User) else account])
    return table.instance(rows[0]) if rows else None


@functools.cache
def _limit_table() -> sql.Table:
    return sql.Table(SpendLimit)


def set_limit(account: User | None = None, token=None, monthly_limit: Decimal | None = None,
              by_staff: bool = False) -> SpendLimit:
    """Set (or with None, lift) a monthly limit on an account or a token. One staff set is locked:
    only staff change it (Forbidden for anyone else); staff lifting it unlocks it."""
    with transaction.atomic():
        current = SpendLimit.objects.select_for_update().filter(account=account, token=token).first()
        if current is not None and current.locked and not by_staff:
            raise Forbidden("this limit was set by the people who run this Cogmill; ask them to change it")
        limit, _ = SpendLimit.objects.update_or_create(
            account=account, token=token,
            defaults={"monthly_limit": monthly_limit, "locked": by_staff and monthly_limit is not None})
    return limit


# ---------------------------------------------------------------- the ledger

def record(run: Run, completed_at: dt.datetime, metrics: dict) -> SpendEntry | None:
    """The run's one ledger entry, written in the transaction that ends it at `completed_at` with
    `metrics`; None if it never ran. What may have changed while it ran (its start, its payer, its
    token: either may have been deleted) is read from its row; its model, version and hardware from
    the run in hand, as its worker loaded them."""
    kind = type(run)
    fresh = sql.fetch(f"SELECT r.started_at, r.account_id, r.token_id, t.name FROM {sql.quote(kind._meta.db_table)} r "
                      f"LEFT JOIN {sql.quote(ApiToken._meta.db_table)} t ON t.id = r.token_id WHERE r.id = %s", [run.pk])
    started_at, account_id, token_id, token_name = fresh[0] if fresh else (None, None, None, None)
    if started_at is None:
        return None
    started_at = sql.read(kind, "started_at", started_at)
    seconds = _seconds(started_at, completed_at, metrics)
    sku = run.hardware_sku
    hardware = _hardware_of(run)
    price = price_in_force(hardware, started_at) if hardware else Decimal(0)
    account_id = account_id or run.owner_id
    entry = sql.insert(SpendEntry(
        account_id=account_id, user_id=run.owner_id, token_id=token_id, source=run.source,
        token_name=token_name or "",
        kind=run._meta.model_name, run_id=run.pk, model=run.model.full_name,
        version=run.version.version_id, deployment=getattr(run, "deployment", ""), hardware=sku,
        seconds=seconds, price_per_second=price, cost=(seconds * price).quantize(LEDGER_PLACES, ROUND_HALF_UP),
        created_at=completed_at,
    ), unless_taken=("kind", "run_id"))
    if entry is None:
        return None  # written already: one entry per run
    transaction.on_commit(lambda: alert(account_id), robust=True)  # a mail that fails never undoes the end
    return entry


def _hardware_of(run: Run) -> Hardware | None:
    """The Hardware row the run ran on: its release's or its model's (already loaded when its
    hardware_sku was read), or else the default SKU's."""
    holder = run.release if getattr(run, "release_id", None) else run.model
    return holder.hardware if holder.hardware_id else Hardware.objects.filter(sku=run.hardware_sku).first()


def _seconds(started_at: dt.datetime, completed_at: dt.datetime, metrics: dict) -> Decimal:
    """The model's own `predict_time`, but only a finite number of seconds no longer than the run
    took by Cogmill's clock (a model is untrusted: it could claim anything); else that time."""
    wall = max((completed_at - started_at).total_seconds(), 0)
    claimed = (metrics or {}).get("predict_time")
    ok = isinstance(claimed, (int, float)) and not isinstance(claimed, bool) and math.isfinite(claimed)
    seconds = min(max(claimed, 0), wall) if ok else wall
    return Decimal(str(max(seconds, 0))).quantize(SECOND_PLACES, ROUND_HALF_UP)


# ---------------------------------------------------------------- deployments' warm instances

HOUR = dt.timedelta(hours=1)
MAX_ACCRUAL_GAP = dt.timedelta(minutes=5)
# The longest a run may run (COGMILL_PREDICTION_TIMEOUT, and a margin): a run that ended this long
# after an hour may have run in it.
RUN_SPAN = dt.timedelta(hours=1)


def bill_instances(now: dt.datetime | None = None) -> int:
    """Beat's round for deployments with min_instances above 0: add the time their instances were up
    since the last round to the hour it fell in, and bill each hour that is over, once: its idle
    instance-seconds (up, less what runs through the deployment were billed for in that hour) at the
    price its hardware had when the hour began. How many hours were billed."""
    now = now or timezone.now()
    for deployment in Deployment.objects.filter(current_release__min_instances__gt=0).select_related(
            "owner", "current_release__version__model__owner", "current_release__hardware"):
        _accrue(deployment, now)
    billed = 0
    for hour in InstanceHour.objects.filter(billed=False, hour__lte=now - HOUR):
        with transaction.atomic():
            if InstanceHour.objects.select_for_update().filter(pk=hour.pk, billed=False).exists():
                _bill_hour(hour)
                InstanceHour.objects.filter(pk=hour.pk).update(billed=True)
                billed += 1
    return billed


def _accrue(deployment: Deployment, now: dt.datetime) -> None:
    """Up-time since the last round, split at the hours it spans, at the instance count seen now. A
    gap longer than a few rounds (min_instances was 0 meanwhile, or beat was down) is not billed:
    counting starts again from now."""
    up = Instance.objects.counted().filter(release__deployment=deployment, worker__isnull=False).exclude(
        state=InstanceState.REQUESTED).count()
    latest = InstanceHour.objects.filter(deployment=deployment).order_by("-hour").first()
    since = latest.accrued_until if latest is not None and now - latest.accrued_until <= MAX_ACCRUAL_GAP else now
    release = deployment.current_release
    ran = {"model": release.version.model.full_name, "version": release.version.version_id,
           "hardware": release.hardware.sku}  # the last release of the hour is what its entry names
    hour = since.replace(minute=0, second=0, microsecond=0)
    while True:
        until = min(hour + HOUR, now)
        row, _ = InstanceHour.objects.get_or_create(
            deployment_name=deployment.full_name, hour=hour,
            defaults={"deployment": deployment, "account": deployment.owner, "accrued_until": since, **ran})
        seconds = Decimal(str(max((until - max(since, row.accrued_until)).total_seconds(), 0))) * up
        InstanceHour.objects.filter(pk=row.pk, billed=False).update(
            instance_seconds=row.instance_seconds + seconds, accrued_until=max(until, row.accrued_until), **ran)
        if until >= now:
            return
        since, hour = until, hour + HOUR


def _bill_hour(hour: InstanceHour) -> SpendEntry | None:
    start, end = hour.hour, hour.hour + HOUR
    busy = Decimal(0)  # what runs through it were billed for within this hour, each run's own part
    finished = SpendEntry.objects.filter(deployment=hour.deployment_name, kind=SpendEntry.Kind.PREDICTION,
                                         created_at__gte=start, created_at__lt=end + RUN_SPAN)
    for completed, seconds in finished.values_list("created_at", "seconds"):
        began = completed - dt.timedelta(seconds=float(seconds))
        overlap = (min(completed, end) - max(began, start)).total_seconds()
        busy += Decimal(str(max(overlap, 0)))
    seconds = max(Decimal(hour.instance_seconds) - busy, Decimal(0)).quantize(SECOND_PLACES, ROUND_HALF_UP)
    hardware = Hardware.objects.filter(sku=hour.hardware).first()
    price = price_in_force(hardware, start) if hardware else Decimal(0)
    try:
        with transaction.atomic():
            return SpendEntry.objects.create(
                account=hour.account, user=None, token=None, source="deploy", kind=SpendEntry.Kind.INSTANCES,
                run_id=f"h{hour.pk}", model=hour.model, version=hour.version, deployment=hour.deployment_name,
                hardware=hour.hardware, seconds=seconds, price_per_second=price,
                cost=(seconds * price).quantize(LEDGER_PLACES, ROUND_HALF_UP), created_at=end)
    except IntegrityError:
        return None  # billed already


# ---------------------------------------------------------------- alerts

def alert(account: User | int, now: dt.datetime | None = None) -> int | None:
    """Mail the account (or the account of this id) at 80% and at 100% of its limit, once each a
    month; the percent alerted."""
    limit = limit_of(account)
    if limit is None or limit.monthly_limit <= 0:
        return None
    if not isinstance(account, User):
        account = limit.account
    now = now or timezone.now()
    spent = spent_this_month(account, now)
    reached = max((p for p in ALERT_PERCENTS if spent * 100 >= limit.monthly_limit * p), default=0)
    month = f"{timezone.localtime(now):%Y-%m}"
    already = limit.alerted_percent if limit.alerted_month == month else 0
    if reached <= already:
        return None
    claimed = SpendLimit.objects.filter(pk=limit.pk, alerted_month=limit.alerted_month,
                                        alerted_percent=limit.alerted_percent).update(
        alerted_month=month, alerted_percent=reached)
    if not claimed:
        return None  # another run ending at the same time sent it
    recipients = _recipients(account)
    if recipients:
        message = EmailMessage(
            f"Cogmill: {reached}% of {account.username}'s monthly spend limit",
            f"{account.username} has spent ${spent:.2f} of its ${limit.monthly_limit:.2f} monthly limit this month."
            + (" New runs are refused until the month ends or the limit is raised." if reached >= 100 else ""),
            None, recipients)
        try:
            message.send()
        except Exception as exc:  # the account page says it too; a mail server that is down stops nothing
            log.warning("spend alert for %s not sent: %s", account.username, exc)
    return reached


def _recipients(account: User) -> list[str]:
    if account.is_organization:
        admins = (Membership.objects.active().filter(organization=account, role=Membership.Role.ADMIN)
                  .select_related("member"))
        return [m.member.email for m in admins if m.member.email]
    return [account.email] if account.email else []


def notice(account: User) -> dict | None:
    """What the account page says about this month's limit: spent, limit, percent, and an alert."""
    limit = limit_of(account)
    if limit is None:
        return None
    spent = spent_this_month(account)
    month = f"{timezone.localtime():%Y-%m}"
    return {"limit": limit.monthly_limit, "spent": spent,
            "percent": int(spent * 100 / limit.monthly_limit) if limit.monthly_limit else 100,
            "alerted": limit.alerted_percent if limit.alerted_month == month else 0}
