"""Deployments: create, change (a new release each time), delete, run, and how many instances each
should have.

Who may do what: a deployment of a person is theirs alone; one of an organization is seen and run by
its members and changed by its admins. Everyone else is told it does not exist.

Scaling is a desired state written in the database, carried out by workers: `scale` asks for
instances by writing `requested` rows (a worker with the release's hardware boots each one and
then reads the deployment's queue), pins `min_instances` of them so they stay up however idle,
and marks instances of old releases `stopping` (they finish their runs first). Instances that are
not pinned stop after COGMILL_SCALE_DOWN_SECONDS idle. Beat runs `scale` for every deployment each
COGMILL_SCALE_INTERVAL_SECONDS; creates, changes and waiting runs run it at once.
"""

import datetime as dt
import functools
import secrets
import statistics
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from accounts.models import Membership, User
from accounts.services import is_admin
from cogmill import sql
from playground import dispatch
from playground.errors import Conflict, FieldError, Forbidden, Invalid, NotFound
from playground.models import (
    LIVE,
    Deployment,
    DeploymentRelease,
    Hardware,
    Instance,
    InstanceState,
    Model,
    Prediction,
    Status,
    Version,
    Worker,
)
from playground.services import catalog, runs

CONFIGURATION = ("hardware", "min_instances", "max_instances")
# A requested instance whose message no worker took this long ago is asked for again.
REQUEST_AGAIN_SECONDS = 60


# ---------------------------------------------------------------- who may see and change

def deployments_for(user) -> QuerySet:
    """The user's deployments and their organizations', newest first."""
    if not user.is_authenticated:
        return Deployment.objects.none()
    orgs = Membership.objects.active().filter(member=user).values("organization")
    return (Deployment.objects.filter(Q(owner=user) | Q(owner__in=orgs))
            .select_related("owner", "current_release__version__model__owner", "current_release__hardware",
                            "current_release__created_by"))


def get_deployment(user, owner: str, name: str) -> Deployment:
    deployment = deployments_for(user).filter(owner__username=owner, name=name).first()
    if deployment is None:
        raise NotFound(f"deployment {owner}/{name} not found")
    return deployment


def can_change(user, deployment: Deployment) -> bool:
    owner = deployment.owner
    return owner.pk == user.pk or (owner.is_organization and is_admin(user, owner))


def _check_can_change(user, deployment: Deployment) -> None:
    if not can_change(user, deployment):
        raise Forbidden(f"only admins of {deployment.owner.username} can change {deployment.full_name}")


def owners_for(user) -> list[User]:
    """Whom the user may create deployments for: themselves and the organizations they administer."""
    admin_of = Membership.objects.active().filter(member=user, role=Membership.Role.ADMIN).values("organization")
    return [user, *User.objects.filter(pk__in=admin_of).order_by("username")]


# ---------------------------------------------------------------- create, change, delete

def create_deployment(user, name: str, model: str, version: str | None, hardware: str, min_instances: object,
                      max_instances: object, owner: str | None = None) -> Deployment:
    """A new deployment of `owner` (the user, or an organization they administer) with release 1."""
    errors: list[FieldError] = []
    account = _owner(user, owner, errors)
    if problem := catalog.model_name_problem(name or ""):
        errors.append(FieldError("name", problem.replace("model name", "deployment name"), "pattern"))
    picked = _version(user, model, version, errors)
    config = _configuration({"hardware": hardware, "min_instances": min_instances, "max_instances": max_instances},
                            errors)
    if errors:
        raise Invalid(errors)
    try:
        with transaction.atomic():
            deployment = Deployment.objects.create(owner=account, name=name)
            _release(deployment, user, picked, config)
    except IntegrityError:
        raise Conflict(f"{account.username}/{name} already exists") from None
    return deployment


def update_deployment(user, deployment: Deployment, changes: dict) -> Deployment:
    """Any subset of model, version, hardware, min and max instances: a new release, numbered on."""
    _check_can_change(user, deployment)
    if not any(key in changes for key in ("model", "version", *CONFIGURATION)):
        raise Invalid.field("body", "change at least one of model, version, " + ", ".join(CONFIGURATION), "required")
    current = deployment.current_release
    errors: list[FieldError] = []
    picked = current.version
    if "model" in changes or "version" in changes:
        picked = _version(user, changes.get("model") or current.version.model.full_name, changes.get("version"),
                          errors)
    config = {"hardware": current.hardware.sku, "min_instances": current.min_instances,
              "max_instances": current.max_instances}
    config.update({key: changes[key] for key in CONFIGURATION if key in changes})
    config = _configuration(config, errors)
    if errors:
        raise Invalid(errors)
    with transaction.atomic():
        Deployment.objects.select_for_update().filter(pk=deployment.pk).first()  # releases numbered one at a time
        _release(deployment, user, picked, config)
    return deployment


def _release(deployment: Deployment, user, version: Version, config: dict) -> DeploymentRelease:
    last = deployment.releases.order_by("-number").values_list("number", flat=True).first() or 0
    release = DeploymentRelease.objects.create(deployment=deployment, number=last + 1, version=version,
                                               created_by=user, **config)
    deployment.current_release = release
    deployment.save(update_fields=["current_release"])
    scale(deployment)
    return release


def delete_deployment(user, deployment: Deployment) -> None:
    """Delete it and stop its instances; refused while runs made through it are still going."""
    _check_can_change(user, deployment)
    with transaction.atomic():
        Deployment.objects.select_for_update().filter(pk=deployment.pk).first()  # no run made meanwhile
        if Prediction.objects.filter(release__deployment=deployment, status__in=LIVE).exists():
            raise Conflict(f"{deployment.full_name} still has predictions running or queued; "
                           "cancel them or wait for them to finish")
        deployment.delete()  # its instance rows go with it; their workers stop them


def _owner(user, owner: str | None, errors: list[FieldError]) -> User:
    if not owner or owner == user.username:
        return user
    account = next((o for o in owners_for(user) if o.username == owner), None)
    if account is None:
        errors.append(FieldError("owner", f"you can create deployments as {user.username} or for an organization "
                                          "you administer", "owner"))
        return user
    return account


def _version(user, model: object, version: object, errors: list[FieldError]) -> Version | None:
    if not isinstance(model, str) or model.count("/") != 1:
        errors.append(FieldError("model", "model must be owner/name", "format"))
        return None
    ref = f"{model}:{version}" if version else model
    try:
        return catalog.resolve_version(user, ref)
    except Invalid as exc:
        errors.extend(exc.errors)
    except Conflict as exc:
        errors.append(FieldError("version", str(exc), "not_ready"))
    return None


def _configuration(values: dict, errors: list[FieldError]) -> dict:
    hardware = catalog.checked_hardware(values["hardware"], errors)
    cap = settings.COGMILL_DEPLOYMENT_MAX_INSTANCES
    counts = {}
    for field in ("min_instances", "max_instances"):
        value = values[field]
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= cap:
            errors.append(FieldError(field, f"{field} must be a whole number from 0 to {cap}", "range"))
        else:
            counts[field] = value
    if len(counts) == 2:
        if counts["max_instances"] < 1:
            errors.append(FieldError("max_instances", "max_instances must be at least 1", "range"))
        elif counts["min_instances"] > counts["max_instances"]:
            errors.append(FieldError("min_instances", "min_instances can not be more than max_instances", "range"))
    return {"hardware": hardware, **counts}


# ---------------------------------------------------------------- running through it

def create_prediction(user, deployment: Deployment, input_data: object, **options) -> Prediction:
    """Run the deployment's current release (anyone who may see the deployment may run it). The
    deployment's row is held meanwhile: a change or a delete waits for it, and it for them."""
    with transaction.atomic():
        locked = _locked_with_release("d.id = %s", [deployment.pk])
        if locked is None:
            raise NotFound(f"deployment {deployment.full_name} not found")
        return _run_release(user, locked, input_data, options)


def run_deployment(user, owner: str, name: str, input_data: object, **options) -> Prediction:
    """get_deployment and create_prediction in one: the deployment is found, its access checked and
    its row held in one statement, as every run through a deployment asks."""
    if not user.is_authenticated:
        raise NotFound(f"deployment {owner}/{name} not found")
    with transaction.atomic():
        locked = _locked_with_release(
            "du.username = %s AND d.name = %s AND (d.owner_id = %s OR d.owner_id IN "
            f"(SELECT organization_id FROM {sql.quote(Membership._meta.db_table)} "
            "WHERE member_id = %s AND accepted_at IS NOT NULL))", [owner, name, user.pk, user.pk])
        if locked is None:
            raise NotFound(f"deployment {owner}/{name} not found")
        return _run_release(user, locked, input_data, options)


def _run_release(user, locked: Deployment, input_data: object, options: dict) -> Prediction:
    release = locked.current_release
    if release is None:
        raise Conflict(f"{locked.full_name} has no release to run")
    prediction = runs.create_prediction(user, release.version, input_data, release=release, **options)
    if _may_grow_for(release):
        dispatch.scale_deployment(locked.pk)
    return prediction


@functools.cache
def _deployment_tables() -> tuple[sql.Table, ...]:
    """A deployment, its owner, its current release, the release's hardware and version (its build
    log left out), the version's model, the model's owner and hardware."""
    return (sql.Table(Deployment, "d"), sql.Table(User, "du"), sql.Table(DeploymentRelease, "r"),
            sql.Table(Hardware, "rh"), sql.Table(Version, "v", leave_out=("build_log",)), sql.Table(Model, "m"),
            sql.Table(User, "mu"), sql.Table(Hardware, "mh"))


def _locked_with_release(condition: str, params: list) -> Deployment | None:
    """The deployment matching `condition` (SQL over `d`, the deployment, and `du`, its owner) with
    its current release and what running it reads, its row locked until the transaction ends."""
    tables = _deployment_tables()
    rows = sql.fetch(_locked_statement(condition), params)
    current = tables[0].attnames.index("current_release_id")
    release_id = tables[0].width + tables[1].width + tables[2].attnames.index("id")
    if rows and rows[0][current] is not None and rows[0][release_id] is None:
        # PostgreSQL waited for a change that gave it a new release and re-checked the locked row,
        # not the joined ones: read again, now that the row is held.
        rows = sql.fetch(_locked_statement(condition), params)
    if not rows:
        return None
    deployment, owner, release, release_hardware, version, model, model_owner, model_hardware = (
        tables[0].instances(rows[0], *tables[1:]))
    deployment.owner = owner
    if release is not None:
        model.owner, model.hardware = model_owner, model_hardware
        version.model = model
        release.version, release.hardware, release.deployment = version, release_hardware, deployment
        deployment.current_release = release
    return deployment


@functools.lru_cache(maxsize=8)
def _locked_statement(condition: str) -> str:
    d, du, r, rh, v, m, mu, mh = _deployment_tables()
    lock = " FOR UPDATE OF d" if connection.features.has_select_for_update_of else ""
    return (
        f"SELECT {', '.join(table.columns() for table in (d, du, r, rh, v, m, mu, mh))} "
        f"FROM {sql.quote(d.name)} d JOIN {sql.quote(du.name)} du ON du.id = d.owner_id "
        f"LEFT JOIN {sql.quote(r.name)} r ON r.id = d.current_release_id "
        f"LEFT JOIN {sql.quote(rh.name)} rh ON rh.id = r.hardware_id "
        f"LEFT JOIN {sql.quote(v.name)} v ON v.id = r.version_id "
        f"LEFT JOIN {sql.quote(m.name)} m ON m.id = v.model_id "
        f"LEFT JOIN {sql.quote(mu.name)} mu ON mu.id = m.owner_id "
        f"LEFT JOIN {sql.quote(mh.name)} mh ON mh.id = m.hardware_id WHERE {condition}{lock}")


def _may_grow_for(release: DeploymentRelease) -> bool:
    """Whether the release's waiting runs outnumber the free slots of its instances (up or on their
    way) while it has fewer than its max_instances: then the scaler may add one. At its max, runs
    wait for its instances, and asking the scaler on every run would only cost the worker. One
    statement on the cursor, as every run through a deployment asks; the instances it counts are
    InstanceQuerySet.counted's (not stopping; asked for, or on a live worker)."""
    ((count, free, waiting),) = sql.fetch(
        f"SELECT COUNT(*), COALESCE(SUM(i.slots - i.in_use), 0), (SELECT COUNT(*) FROM "
        f"{sql.quote(Prediction._meta.db_table)} WHERE release_id = %s AND status = %s) "
        f"FROM {sql.quote(Instance._meta.db_table)} i LEFT JOIN {sql.quote(Worker._meta.db_table)} w "
        "ON w.name = i.worker_id WHERE i.release_id = %s AND i.state <> %s "
        "AND (i.worker_id IS NULL OR w.heartbeat_at >= %s)",
        [release.pk, Status.STARTING, release.pk, InstanceState.STOPPING,
         sql.value(Worker, "heartbeat_at", Worker.live_since())])
    return count < release.max_instances and free < waiting


# ---------------------------------------------------------------- scaling

def scale(deployment: Deployment) -> list[Instance]:
    """Bring the deployment's instances toward what it needs now; the instances asked for.

    Its current release needs `min_instances` up, pinned; one more (up to `max_instances`) while its
    runs wait and every instance it has is busy or on its way; at least one while any of its runs
    waits; and none past `max_instances` (the extra stop, idle ones first). Instances of older
    releases carry over when the version and hardware are the same; otherwise they stop once their
    runs are done, and one is kept (or asked for) while runs made with that release still wait.
    """
    with transaction.atomic():
        deployment = Deployment.objects.select_for_update(of=("self",)).select_related(
            "current_release__hardware", "current_release__version").filter(pk=deployment.pk).first()
        if deployment is None or deployment.current_release is None:
            return []
        release, now = deployment.current_release, timezone.now()
        ours = Instance.objects.filter(release__deployment=deployment)
        ours.filter(worker__heartbeat_at__lt=Worker.live_since(now)).delete()  # a dead worker's: asked for again below
        ours.filter(key=release.pool_key).exclude(release=release).update(release=release)  # same version, hardware
        waiting = _waiting_by_key(deployment)
        asked = _drain_old_releases(deployment, release, waiting, now)
        rows = list(Instance.objects.counted().filter(release=release))
        _pin(rows, release.min_instances)
        free = sum(row.slots - row.in_use for row in rows)
        want = max(release.min_instances, 1 if waiting.get(release.pool_key) else 0)
        if waiting.get(release.pool_key, 0) > free:
            want = max(want, len(rows) + 1)
        want = min(want, release.max_instances)
        asked += [_request(release, pinned=len(rows) + i < release.min_instances) for i in range(want - len(rows))]
        _trim(rows, want, release.max_instances, now)
        _ask_again(rows, release, now)
    return asked


def _waiting_by_key(deployment: Deployment) -> dict[str, int]:
    """How many of its runs wait to start, by the pool key of the release each was made with."""
    counts: dict[str, int] = {}
    waiting = Prediction.objects.filter(release__deployment=deployment, status=Status.STARTING).select_related(
        "release__version", "release__hardware")
    for prediction in waiting:
        key = prediction.release.pool_key
        counts[key] = counts.get(key, 0) + 1
    return counts


def _drain_old_releases(deployment: Deployment, release: DeploymentRelease, waiting: dict[str, int],
                        now: dt.datetime) -> list[Instance]:
    """Stop the instances of older releases, but one per older version that runs still wait for (one is
    asked for when there is none); the instances asked for."""
    old = Instance.objects.counted().filter(release__deployment=deployment).exclude(key=release.pool_key)
    kept: set[str] = set()
    for row in old.order_by("state", "created_at"):
        if waiting.get(row.key) and row.key not in kept and row.worker_id is not None:
            kept.add(row.key)
        elif row.worker_id is None:  # only asked for: no worker to stop it
            row.delete()
        else:
            Instance.objects.filter(pk=row.pk).update(state=InstanceState.STOPPING, pinned=False, state_since=now)
    asked = []
    releases = {r.pool_key: r for r in deployment.releases.select_related("version", "hardware")
                if r.pool_key in waiting and r.pool_key != release.pool_key}
    for key, old_release in releases.items():
        if key not in kept:
            asked.append(_request(old_release, pinned=False))
    return asked


def _trim(rows: list[Instance], want: int, maximum: int, now: dt.datetime) -> None:
    """Requests above `want` are withdrawn; idle instances above `maximum` stop (the rest above
    `want` stop by themselves once idle for the scale-down window)."""
    for row in [r for r in rows if r.state == InstanceState.REQUESTED and not r.pinned][:max(len(rows) - want, 0)]:
        row.delete()
        rows.remove(row)
    idle = [r for r in rows if r.state == InstanceState.READY and r.in_use == 0 and not r.pinned]
    for row in idle[:max(len(rows) - maximum, 0)]:
        Instance.objects.filter(pk=row.pk).update(state=InstanceState.STOPPING, state_since=now)


def _ask_again(rows: list[Instance], release: DeploymentRelease, now: dt.datetime) -> None:
    """A request no worker took in REQUEST_AGAIN_SECONDS is sent again (its message may be lost)."""
    for row in rows:
        if row.state == InstanceState.REQUESTED and (now - row.state_since).total_seconds() > REQUEST_AGAIN_SECONDS:
            Instance.objects.filter(pk=row.pk).update(state_since=now)
            dispatch.boot_instance(row.pk, release.hardware.sku)


def _pin(rows: list[Instance], count: int) -> None:
    """Pin `count` of them (the ones up longest), unpin the rest: pinned ones stay up however idle."""
    order = {InstanceState.READY: 0, InstanceState.BOOTING: 1, InstanceState.REQUESTED: 2}
    ranked = sorted(rows, key=lambda row: (order.get(row.state, 3), row.created_at))
    for i, row in enumerate(ranked):
        pinned = i < count
        if row.pinned != pinned:
            row.pinned = pinned
            Instance.objects.filter(pk=row.pk).update(pinned=pinned)


def _request(release: DeploymentRelease, pinned: bool) -> Instance:
    row = Instance.objects.create(id=new_instance_id(), key=release.pool_key, version=release.version,
                                  release=release, pinned=pinned, state=InstanceState.REQUESTED)
    dispatch.boot_instance(row.pk, release.hardware.sku)
    return row


def new_instance_id() -> str:
    return secrets.token_hex(8)


def at_max(release: DeploymentRelease) -> bool:
    """Whether the deployment has as many instances as its current release allows, every version
    counted (a cheap read, before `reserve_instance` takes the lock)."""
    deployment = release.deployment
    limit = deployment.current_release.max_instances if deployment.current_release_id else release.max_instances
    return Instance.objects.counted().filter(release__deployment_id=deployment.pk).count() >= limit


def reserve_instance(release: DeploymentRelease, worker_name: str, instance_id: str) -> bool:
    """A worker's own scale-up: room for one more instance of the release (runs wait on that worker
    and its instances are busy)? If so it is recorded, booting on that worker. Every instance of the
    deployment counts toward its current release's max_instances."""
    with transaction.atomic():
        deployment = Deployment.objects.select_for_update(of=("self",)).select_related("current_release").filter(
            pk=release.deployment_id).first()
        if deployment is None or at_max(release):
            return False
        Instance.objects.create(id=instance_id, key=release.pool_key, version=release.version, release=release,
                                worker_id=worker_name, state=InstanceState.BOOTING)
    return True


def free_elsewhere(release: DeploymentRelease, worker_name: str) -> bool:
    """Whether another worker has an instance of the release ready with a slot free (as its last
    heartbeat said)."""
    rows = Instance.objects.counted().filter(key=release.pool_key, release__deployment_id=release.deployment_id,
                                             state=InstanceState.READY).exclude(worker_id=worker_name)
    return any(row.in_use < row.slots for row in rows)


def scale_all() -> int:
    """Beat's round: scale every deployment; how many instances were asked for."""
    return sum(len(scale(deployment)) for deployment in Deployment.objects.filter(current_release__isnull=False))


# ---------------------------------------------------------------- what it costs and how it does

def hourly_cost(release: DeploymentRelease) -> tuple[Decimal, Decimal]:
    """What an hour costs at the release's hardware price: with min instances up and idle, and
    with every instance (max) busy."""
    hour = release.hardware.price_per_hour
    return hour * release.min_instances, hour * release.max_instances


def instances_of(deployment: Deployment) -> QuerySet:
    """Its instances, current and stopping, with where they run."""
    return Instance.objects.filter(release__deployment=deployment).select_related("release", "worker").order_by(
        "-release__number", "created_at")


STATS_BUCKETS = 12  # five minutes each


def stats(deployment: Deployment, now: dt.datetime | None = None) -> dict:
    """The last hour through the deployment: requests, p50 latency (created to completed) and cold
    starts, in total and per five minutes."""
    now = now or timezone.now()
    start = now - dt.timedelta(hours=1)
    rows = list(Prediction.objects.filter(release__deployment=deployment, created_at__gte=start)
                .values_list("created_at", "completed_at", "metrics")[:20000])
    width = dt.timedelta(hours=1) / STATS_BUCKETS
    buckets = [{"start": start + width * i, "requests": 0, "cold_starts": 0, "latencies": []}
               for i in range(STATS_BUCKETS)]
    latencies = []
    for created, completed, metrics in rows:
        bucket = buckets[min(int((created - start) / width), STATS_BUCKETS - 1)]
        bucket["requests"] += 1
        if (metrics or {}).get("cold_start"):
            bucket["cold_starts"] += 1
        if completed:
            seconds = (completed - created).total_seconds()
            bucket["latencies"].append(seconds)
            latencies.append(seconds)
    for bucket in buckets:
        seconds = bucket.pop("latencies")
        bucket["p50"] = statistics.median(seconds) if seconds else None
    return {
        "requests": len(rows),
        "p50": statistics.median(latencies) if latencies else None,
        "cold_starts": sum(b["cold_starts"] for b in buckets),
        "buckets": buckets,
    }


def release_history(deployment: Deployment) -> QuerySet:
    return deployment.releases.select_related("version__model__owner", "hardware", "created_by")
