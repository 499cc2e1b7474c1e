"""Deployments in-process (no worker): the API's shapes and refusals, releases, who may do what,
and what the scaler asks workers for."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import AnonymousUser
from django.utils import timezone

from accounts.models import Membership, User
from playground.errors import NotFound
from playground.models import Hardware, Instance, InstanceState, Prediction, Version, Worker
from playground.services import deployments, runs
from tests.problems import assert_problem
from tests.unit.conftest import ECHO_SCHEMA, bearer, ready_version

pytestmark = pytest.mark.django_db

BODY = {"name": "echo-prod", "model": "alice/echo", "version": "a" * 64, "hardware": "cpu",
        "min_instances": 0, "max_instances": 2}


def _create(client, auth, **changes):
    return client.post("/v1/deployments", {**BODY, **changes}, content_type="application/json", **auth)


def _patch(client, auth, path="alice/echo-prod", **changes):
    return client.patch(f"/v1/deployments/{path}", changes, content_type="application/json", **auth)


def test_create_get_list_in_replicates_shape(client, auth, version):
    created = _create(client, auth)
    assert created.status_code == 201, created.content
    body = created.json()
    release = body["current_release"]
    assert body["owner"] == "alice" and body["name"] == "echo-prod"
    assert (release["number"], release["model"], release["version"]) == (1, "alice/echo", "a" * 64)
    assert release["configuration"] == {"hardware": "cpu", "min_instances": 0, "max_instances": 2}
    assert release["created_by"]["username"] == "alice" and release["created_at"].endswith("Z")
    assert client.get("/v1/deployments/alice/echo-prod", **auth).json() == body
    listed = client.get("/v1/deployments", **auth).json()
    assert listed["results"] == [body] and listed["next"] is None


def test_without_a_version_it_deploys_the_latest(client, auth, version):
    body = _create(client, auth, version=None).json()
    assert body["current_release"]["version"] == version.version_id


def test_every_change_is_a_new_release_and_releases_are_kept(client, auth, version):
    _create(client, auth)
    newer = Version.objects.create(model=version.model, version_id="e" * 64, build_status="ready",
                                   openapi_schema=version.openapi_schema, cog_version="0.23.1")
    changed = _patch(client, auth, min_instances=1)
    assert changed.status_code == 200, changed.content
    assert changed.json()["current_release"]["number"] == 2
    assert changed.json()["current_release"]["configuration"]["min_instances"] == 1
    third = _patch(client, auth, version=newer.version_id).json()["current_release"]
    assert (third["number"], third["version"], third["configuration"]["min_instances"]) == (3, "e" * 64, 1)
    deployment = deployments.get_deployment(version.model.owner, "alice", "echo-prod")
    assert [(r.number, r.version.version_id[:1]) for r in deployment.releases.all()] == [(3, "e"), (2, "a"), (1, "a")]


@pytest.mark.parametrize(("changes", "field"), [
    ({"hardware": "gpu-nope"}, "hardware"),
    ({"min_instances": 3, "max_instances": 2}, "min_instances"),
    ({"max_instances": 0}, "max_instances"),
    ({"max_instances": 11}, "max_instances"),
    ({"min_instances": -1}, "min_instances"),
    ({"min_instances": "two"}, "min_instances"),
    ({"min_instances": True}, "min_instances"),
    ({"name": "Not A Name"}, "name"),
    ({"model": "alice"}, "model"),
    ({"model": "bob/secret"}, "version"),
    ({"version": "f" * 64}, "version"),
    ({"owner": "acme"}, "owner"),
])
def test_bad_input_is_a_422_naming_the_field_and_creates_nothing(client, auth, version, changes, field):
    answer = _create(client, auth, **changes)
    assert_problem(answer, 422)
    assert field in [f["field"] for f in answer.json()["invalid_fields"]], answer.json()
    assert not deployments.Deployment.objects.exists()


def test_a_bad_change_makes_no_release(client, auth, version):
    _create(client, auth)
    assert_problem(_patch(client, auth, max_instances=0), 422)
    assert_problem(_patch(client, auth, hardware="nope"), 422)
    assert client.get("/v1/deployments/alice/echo-prod", **auth).json()["current_release"]["number"] == 1


def test_an_empty_change_is_refused(client, auth, version):
    _create(client, auth)
    assert_problem(_patch(client, auth), 422)


def test_the_version_a_deployment_runs_can_not_be_deleted(client, auth, version):
    _create(client, auth)
    newer = Version.objects.create(model=version.model, version_id="e" * 64, build_status="ready",
                                   openapi_schema=version.openapi_schema, cog_version="0.23.1")
    path = f"/v1/models/alice/echo/versions/{version.version_id}"
    refused = client.delete(path, **auth)
    assert_problem(refused, 409)
    assert "alice/echo-prod" in refused.json()["detail"]
    _patch(client, auth, version=newer.version_id)
    assert client.delete(path, **auth).status_code == 204  # hidden: release 1 still names it
    assert Version.objects.get(pk=version.pk).hidden


def test_a_name_is_taken_once_per_owner(client, auth, version):
    _create(client, auth)
    assert_problem(_create(client, auth), 409)


def test_unknown_fields_are_refused(client, auth, version):
    assert_problem(_create(client, auth, colour="blue"), 422)


def test_others_deployments_do_not_exist_for_them(client, auth, version, mallory):
    _create(client, auth)
    theirs = bearer(mallory)
    assert_problem(client.get("/v1/deployments/alice/echo-prod", **theirs), 404)
    assert_problem(_patch(client, theirs, min_instances=1), 404)
    assert_problem(client.delete("/v1/deployments/alice/echo-prod", **theirs), 404)
    assert_problem(client.post("/v1/deployments/alice/echo-prod/predictions", {"input": {"text": "x"}},
                               content_type="application/json", **theirs), 404)
    assert client.get("/v1/deployments", **theirs).json()["results"] == []


def test_an_organizations_deployment_follows_its_roles(client, version, acme, alice, bob, carol, mallory):
    version.model.visibility = "public"
    version.model.save()
    admin, member = bearer(carol), bearer(bob)
    created = _create(client, admin, owner="acme", model="alice/echo")
    assert created.status_code == 201, created.content
    assert created.json()["owner"] == "acme"
    assert_problem(_create(client, member, owner="acme", name="other"), 422)  # only admins create for it
    assert client.get("/v1/deployments/acme/echo-prod", **member).status_code == 200
    assert_problem(_patch(client, member, "acme/echo-prod", min_instances=1), 403)
    assert_problem(client.delete("/v1/deployments/acme/echo-prod", **member), 403)
    ran = client.post("/v1/deployments/acme/echo-prod/predictions", {"input": {"text": "hi"}},
                      content_type="application/json", **member)
    assert ran.status_code == 201, ran.content
    assert ran.json()["deployment"] == "acme/echo-prod" and ran.json()["version"] == "a" * 64
    assert _patch(client, admin, "acme/echo-prod", max_instances=3).status_code == 200
    assert_problem(client.get("/v1/deployments/acme/echo-prod", **bearer(mallory)), 404)


def test_a_prediction_through_a_deployment_says_so_and_runs_its_release(client, auth, version):
    _create(client, auth)
    answer = client.post("/v1/deployments/alice/echo-prod/predictions", {"input": {"text": "hi"}},
                         content_type="application/json", **auth)
    assert answer.status_code == 201, answer.content
    prediction = Prediction.objects.get(pk=answer.json()["id"])
    assert answer.json()["deployment"] == "alice/echo-prod"
    assert prediction.release.number == 1 and prediction.hardware_sku == "cpu"
    assert_problem(client.post("/v1/deployments/alice/echo-prod/predictions", {"input": {"text": 3}},
                               content_type="application/json", **auth), 422)


def test_delete_waits_for_its_runs_and_keeps_their_history(client, auth, version):
    _create(client, auth)
    ran = client.post("/v1/deployments/alice/echo-prod/predictions", {"input": {"text": "hi"}},
                      content_type="application/json", **auth).json()
    assert_problem(client.delete("/v1/deployments/alice/echo-prod", **auth), 409)
    Prediction.objects.filter(pk=ran["id"]).update(status="succeeded")
    assert client.delete("/v1/deployments/alice/echo-prod", **auth).status_code == 204
    assert_problem(client.get("/v1/deployments/alice/echo-prod", **auth), 404)
    assert client.get(f"/v1/predictions/{ran['id']}", **auth).json()["deployment"] == "alice/echo-prod"


# ---------------------------------------------------------------- scaling

def _deploy(alice, version, min_instances=0, max_instances=3, hardware="cpu"):
    return deployments.create_deployment(alice, "d", "alice/echo", version.version_id, hardware, min_instances,
                                         max_instances)


def _rows(deployment):
    return list(Instance.objects.filter(release__deployment=deployment).order_by("created_at"))


def _up(row: Instance, worker: Worker, in_use=0) -> None:
    Instance.objects.filter(pk=row.pk).update(worker=worker, state=InstanceState.READY, in_use=in_use)


def test_min_instances_are_asked_for_at_once_and_pinned(alice, version):
    deployment = _deploy(alice, version, min_instances=2)
    rows = _rows(deployment)
    assert [(r.state, r.pinned, r.worker_id) for r in rows] == [(InstanceState.REQUESTED, True, None)] * 2
    assert rows[0].key == deployment.current_release.pool_key
    assert deployments.scale(deployment) == []  # asked once, not again each round


def test_with_min_zero_nothing_runs_until_a_run_waits(alice, version):
    deployment = _deploy(alice, version)
    assert _rows(deployment) == []
    deployments.create_prediction(alice, deployment, {"text": "a"})
    deployments.scale(deployment)
    assert len(_rows(deployment)) == 1


def test_waiting_runs_add_instances_one_round_at_a_time_up_to_max(alice, version, cpu_worker):
    deployment = _deploy(alice, version, max_instances=2)
    for text in "abcde":
        deployments.create_prediction(alice, deployment, {"text": text})
    deployments.scale(deployment)
    assert len(_rows(deployment)) == 1  # one asked for: it is on its way, more wait on it first
    _up(_rows(deployment)[0], cpu_worker, in_use=1)
    deployments.scale(deployment)
    assert len(_rows(deployment)) == 2
    for row in _rows(deployment):
        _up(row, cpu_worker, in_use=1)
    deployments.scale(deployment)
    assert len(_rows(deployment)) == 2  # never past max_instances


def test_a_worker_may_add_one_only_under_max(alice, version, cpu_worker):
    deployment = _deploy(alice, version, min_instances=1, max_instances=2)
    release = deployment.current_release
    assert deployments.reserve_instance(release, cpu_worker.name, "a1")
    assert not deployments.reserve_instance(release, cpu_worker.name, "a2")
    assert Instance.objects.get(pk="a1").state == InstanceState.BOOTING


def test_instances_of_a_dead_worker_stop_counting_and_are_asked_for_again(alice, version):
    deployment = _deploy(alice, version, min_instances=1)
    gone = Worker.objects.create(name="gone:1", hardware=["cpu"], heartbeat_at=timezone.now() - timedelta(hours=1))
    _up(_rows(deployment)[0], gone)
    deployments.scale(deployment)
    rows = _rows(deployment)
    assert [(r.state, r.worker_id) for r in rows] == [(InstanceState.REQUESTED, None)]


def test_a_new_version_stops_the_old_instances_and_asks_for_its_own(alice, version, cpu_worker):
    deployment = _deploy(alice, version, min_instances=1)
    _up(_rows(deployment)[0], cpu_worker, in_use=1)
    newer = Version.objects.create(model=version.model, version_id="e" * 64, build_status="ready",
                                   openapi_schema=version.openapi_schema, cog_version="0.23.1")
    deployments.update_deployment(alice, deployment, {"version": newer.version_id, "min_instances": 2})
    states = sorted((r.release.number, r.state, r.pinned) for r in _rows(deployment))
    assert states == [(1, InstanceState.STOPPING, False), (2, InstanceState.REQUESTED, True),
                      (2, InstanceState.REQUESTED, True)]


def test_a_release_with_the_same_version_and_hardware_keeps_the_instances(alice, version, cpu_worker):
    deployment = _deploy(alice, version, min_instances=2)
    for row in _rows(deployment):
        _up(row, cpu_worker)
    deployments.update_deployment(alice, deployment, {"min_instances": 1, "max_instances": 4})
    rows = _rows(deployment)
    assert [(r.release.number, r.state) for r in rows] == [(2, InstanceState.READY)] * 2  # nothing reboots
    assert sum(r.pinned for r in rows) == 1  # the other idles out after the scale-down window


def test_hourly_cost_is_from_the_hardware_price(alice, version):
    Hardware.objects.filter(sku="cpu").update(price_per_second=Decimal("0.0001"))
    deployment = _deploy(alice, version, min_instances=1, max_instances=3)
    assert deployments.hourly_cost(deployment.current_release) == (Decimal("0.36"), Decimal("1.08"))


def test_stats_count_requests_latency_and_cold_starts_of_the_last_hour(alice, version):
    deployment = _deploy(alice, version)
    now = timezone.now()
    for seconds, cold in ((1, True), (3, False), (5, False)):
        prediction = deployments.create_prediction(alice, deployment, {"text": "x"})
        Prediction.objects.filter(pk=prediction.pk).update(
            status="succeeded", created_at=now - timedelta(minutes=10), metrics={"cold_start": cold},
            completed_at=now - timedelta(minutes=10) + timedelta(seconds=seconds))
    old = deployments.create_prediction(alice, deployment, {"text": "x"})
    Prediction.objects.filter(pk=old.pk).update(created_at=now - timedelta(hours=2))
    stats = deployments.stats(deployment, now)
    assert (stats["requests"], stats["p50"], stats["cold_starts"]) == (3, 3.0, 1)
    assert sum(b["requests"] for b in stats["buckets"]) == 3 and len(stats["buckets"]) == 12


def _newer(version) -> Version:
    return Version.objects.create(model=version.model, version_id="e" * 64, build_status="ready",
                                  openapi_schema=version.openapi_schema, cog_version="0.23.1")


def test_runs_made_with_an_old_release_keep_one_old_instance_until_they_are_done(alice, version, cpu_worker):
    deployment = _deploy(alice, version, min_instances=2)
    for row in _rows(deployment):
        _up(row, cpu_worker)
    waiting = deployments.create_prediction(alice, deployment, {"text": "queued before the switch"})
    deployments.update_deployment(alice, deployment, {"version": _newer(version).version_id})
    old = [r for r in _rows(deployment) if r.release.number == 1]
    assert sorted(r.state for r in old) == [InstanceState.READY, InstanceState.STOPPING]  # one stays for it
    Prediction.objects.filter(pk=waiting.pk).update(status="succeeded")
    deployments.scale(deployment)
    assert {r.state for r in _rows(deployment) if r.release.number == 1} == {InstanceState.STOPPING}


def test_an_old_release_with_waiting_runs_and_no_instance_gets_one(alice, version):
    deployment = _deploy(alice, version, min_instances=1)
    deployments.create_prediction(alice, deployment, {"text": "a"})
    deployments.update_deployment(alice, deployment, {"version": _newer(version).version_id, "min_instances": 0})
    old = [r for r in _rows(deployment) if r.release.number == 1]
    # The request for release 1 that no worker took is gone, and a fresh one is made for its waiting run.
    assert [(r.state, r.pinned, r.worker_id) for r in old] == [(InstanceState.REQUESTED, False, None)]
    assert old[0].key != deployment.current_release.pool_key


def test_lowering_max_stops_idle_instances_above_it(alice, version, cpu_worker):
    deployment = _deploy(alice, version, max_instances=3)
    release = deployment.current_release
    for instance_id in ("a", "b", "c"):
        assert deployments.reserve_instance(release, cpu_worker.name, instance_id)
    Instance.objects.filter(release=release).update(state=InstanceState.READY)
    Instance.objects.filter(pk="a").update(in_use=1)
    deployments.update_deployment(alice, deployment, {"max_instances": 1})
    states = {r.pk: r.state for r in _rows(deployment)}
    assert states == {"a": InstanceState.READY, "b": InstanceState.STOPPING, "c": InstanceState.STOPPING}


def test_every_instance_of_the_deployment_counts_toward_max(alice, version, cpu_worker):
    deployment = _deploy(alice, version, max_instances=2)
    first = deployment.current_release
    assert deployments.reserve_instance(first, cpu_worker.name, "a")
    deployments.update_deployment(alice, deployment, {"version": _newer(version).version_id})
    second = deployments.get_deployment(alice, "alice", "d").current_release
    assert deployments.reserve_instance(second, cpu_worker.name, "b")
    Instance.objects.filter(pk="a").update(state=InstanceState.READY)  # kept for release 1's waiting runs, say
    assert not deployments.reserve_instance(first, cpu_worker.name, "c")


def test_a_worker_hears_of_a_free_instance_elsewhere(alice, version, cpu_worker):
    deployment = _deploy(alice, version, max_instances=2)
    release = deployment.current_release
    other = Worker.objects.create(name="other:2", hardware=["cpu"], heartbeat_at=timezone.now())
    assert deployments.reserve_instance(release, other.name, "theirs")
    assert not deployments.free_elsewhere(release, cpu_worker.name)  # booting: no free slot yet
    Instance.objects.filter(pk="theirs").update(state=InstanceState.READY)
    assert deployments.free_elsewhere(release, cpu_worker.name)
    assert not deployments.free_elsewhere(release, other.name)


def test_a_run_through_a_deployment_is_priced_at_its_hardware(alice, version):
    Hardware.objects.filter(sku="gpu-t4").update(price_per_second=Decimal("0.001"))
    deployment = _deploy(alice, version, hardware="gpu-t4")
    prediction = deployments.create_prediction(alice, deployment, {"text": "a"})
    prediction.metrics = {"predict_time": 2}
    assert runs.cost_of(prediction) == Decimal("0.002")


def test_who_may_run_a_deployment_by_its_name(alice, bob, carol, mallory, acme, version):
    """The API's runs through a deployment find it, check who may run it and hold it in one read:
    its owner, and the accepted members of the organization that owns it; to anyone else it does
    not exist."""
    team = ready_version(acme, "team-echo", ECHO_SCHEMA, "t")
    deployments.create_deployment(carol, "team", "acme/team-echo", team.version_id, "cpu", 0, 1, owner="acme")
    own = deployments.create_deployment(alice, "mine", "alice/echo", version.version_id, "cpu", 0, 1)
    invited = User.objects.create_user("dave")
    Membership.objects.create(organization=acme, member=invited, accepted_at=None)
    by_member = deployments.run_deployment(bob, "acme", "team", {"text": "a"})
    assert (by_member.deployment, by_member.version, by_member.owner) == ("acme/team", team, bob)
    assert deployments.run_deployment(alice, "alice", "mine", {"text": "a"}).release_id == own.current_release_id
    for who, owner, name in ((mallory, "acme", "team"), (invited, "acme", "team"), (bob, "alice", "mine"),
                             (AnonymousUser(), "alice", "mine"), (alice, "alice", "nope"), (alice, "acme", "mine")):
        with pytest.raises(NotFound):
            deployments.run_deployment(who, owner, name, {"text": "a"})
    assert Prediction.objects.count() == 2


def test_a_run_asks_the_scaler_only_while_runs_outnumber_free_slots_below_the_max(alice, version, cpu_worker):
    """What a run through a deployment checks before asking the scaler for more: its release's
    instances that count (not stopping; asked for, or on a live worker), their free slots, and its
    runs waiting to start."""
    deployment = deployments.create_deployment(alice, "grow", "alice/echo", version.version_id, "cpu", 0, 2)
    release = deployment.current_release
    Prediction.objects.create(owner=alice, model=version.model, version=version, input={}, release=release)
    assert deployments._may_grow_for(release)  # a run waits and nothing serves it
    gone = Worker.objects.create(name="gone:2", hardware=["cpu"], heartbeat_at=timezone.now() - timedelta(hours=1))
    up = {"key": release.pool_key, "version": version, "release": release, "state": InstanceState.READY}
    Instance.objects.create(id="free", worker=cpu_worker, **up)
    assert not deployments._may_grow_for(release)  # one free slot for one waiting run
    Instance.objects.filter(pk="free").update(in_use=1)
    Instance.objects.create(id="stale", worker=gone, **up)  # on a worker that is gone: not counted
    Instance.objects.create(id="leaving", worker=cpu_worker, **{**up, "state": InstanceState.STOPPING})
    assert deployments._may_grow_for(release)  # busy, and one of two at most
    Instance.objects.create(id="asked", **{**up, "state": InstanceState.REQUESTED})  # no worker yet: counted
    for _ in range(2):  # three runs wait for one free slot, but it is at its max: they wait for its instances
        Prediction.objects.create(owner=alice, model=version.model, version=version, input={}, release=release)
    assert not deployments._may_grow_for(release)
