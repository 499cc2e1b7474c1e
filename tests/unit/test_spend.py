"""The spend ledger and monthly limits in-process: what a run costs and who pays, prices that change
for new work only, refusals before anything is queued, creates racing at the edge of a limit,
alerts, and the usage API."""

import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core import mail
from django.db import connection, transaction
from django.utils import timezone

from accounts.models import ApiToken
from playground.errors import Forbidden, SpendLimitReached
from playground.models import (
    Deployment,
    DeploymentRelease,
    Hardware,
    Instance,
    InstanceState,
    Model,
    Prediction,
    SpendEntry,
    Status,
    Training,
    Version,
)
from playground.services import billing, catalog, deployments, runs
from tests.problems import assert_problem
from tests.unit.conftest import ECHO_SCHEMA, bearer, client_for, ready_version

pytestmark = pytest.mark.django_db
PRICE = Decimal("0.001")  # per second


@pytest.fixture(autouse=True)
def priced_cpu():
    billing.set_price(catalog.default_hardware(), PRICE, at=timezone.now() - timedelta(days=30))


def _ran(prediction, seconds: float, started_at=None):
    """Let the prediction run for `seconds` and end, as a worker would."""
    started = started_at or timezone.now() - timedelta(seconds=seconds)
    type(prediction).objects.filter(pk=prediction.pk).update(status=Status.PROCESSING, started_at=started)
    prediction.refresh_from_db()
    runs.end(prediction, Status.SUCCEEDED, output="x", metrics={"predict_time": seconds})
    return SpendEntry.objects.get(run_id=prediction.pk)


def test_a_run_costs_its_seconds_at_its_hardwares_price(alice, version):
    entry = _ran(runs.create_prediction(alice, version, {"text": "a"}), 2.5)
    assert (entry.account, entry.user, entry.kind, entry.model, entry.hardware) == (
        alice, alice, "prediction", "alice/echo", "cpu")
    assert (entry.seconds, entry.price_per_second, entry.cost) == (Decimal("2.500"), PRICE, Decimal("0.0025"))
    assert isinstance(entry.cost, Decimal)


def test_a_token_deleted_while_its_run_goes_leaves_the_run_ending_and_billed(alice, version):
    token, _ = ApiToken.issue(alice)
    prediction = runs.create_prediction(alice, version, {"text": "a"}, token=token)
    type(prediction).objects.filter(pk=prediction.pk).update(
        status=Status.PROCESSING, started_at=timezone.now() - timedelta(seconds=2))
    prediction.refresh_from_db()  # as its worker holds it: loaded with its token before the delete
    assert prediction.token == token
    token.delete()
    assert runs.end(prediction, Status.SUCCEEDED, output="x", metrics={"predict_time": 2})
    entry = SpendEntry.objects.get(run_id=prediction.pk)
    assert (entry.token_id, entry.token_name, entry.cost) == (None, "", Decimal("0.002"))
    assert Prediction.objects.get(pk=prediction.pk).status == Status.SUCCEEDED


def test_one_entry_per_run_whatever_ends_it_again(alice, version):
    prediction = runs.create_prediction(alice, version, {"text": "a"})
    _ran(prediction, 1)
    runs.end(prediction, Status.FAILED, where=None)  # a second end does nothing, bills nothing
    assert SpendEntry.objects.filter(run_id=prediction.pk).count() == 1
    with transaction.atomic():  # as an end that raced another writes it: nothing, and the transaction goes on
        assert billing.record(prediction, timezone.now(), {}) is None
        assert Prediction.objects.filter(pk=prediction.pk).exists()
    assert SpendEntry.objects.filter(run_id=prediction.pk).count() == 1


def test_a_run_that_never_started_costs_nothing(alice, version):
    prediction = runs.create_prediction(alice, version, {"text": "a"})
    runs.cancel(prediction)
    assert not SpendEntry.objects.filter(run_id=prediction.pk).exists()


def test_a_new_price_applies_to_new_work_only(alice, version):
    before = _ran(runs.create_prediction(alice, version, {"text": "a"}), 10)
    started_before = runs.create_prediction(alice, version, {"text": "b"})
    type(started_before).objects.filter(pk=started_before.pk).update(
        status=Status.PROCESSING, started_at=timezone.now() - timedelta(seconds=10))
    billing.set_price(Hardware.objects.get(sku="cpu"), Decimal("0.01"), at=timezone.now() - timedelta(seconds=5))
    started_before.refresh_from_db()
    runs.end(started_before, Status.SUCCEEDED, metrics={"predict_time": 10})
    after = _ran(runs.create_prediction(alice, version, {"text": "c"}), 2)  # started after the change
    before.refresh_from_db()
    assert (before.cost, SpendEntry.objects.get(run_id=started_before.pk).cost, after.cost) == (
        Decimal("0.01"), Decimal("0.01"), Decimal("0.02"))


def test_the_ledger_is_append_only(alice, version):
    entry = _ran(runs.create_prediction(alice, version, {"text": "a"}), 1)
    with pytest.raises(TypeError):
        entry.save()
    with pytest.raises(TypeError):
        entry.delete()
    with pytest.raises(TypeError):
        SpendEntry.objects.filter(pk=entry.pk).update(cost=0)
    with pytest.raises(TypeError):
        SpendEntry.objects.all().delete()


def test_removing_a_predictions_data_keeps_its_entry(alice, version):
    prediction = runs.create_prediction(alice, version, {"text": "a"})
    entry = _ran(prediction, 3)
    prediction.refresh_from_db()
    runs.remove_prediction_data(prediction)
    assert SpendEntry.objects.get(pk=entry.pk).cost == Decimal("0.003")


def test_an_organization_pays_for_its_members_runs_of_its_models(acme, bob, mallory):
    model = Model.objects.create(owner=acme, name="shared", visibility="public")
    shared = Version.objects.create(model=model, version_id="d" * 64, build_status="ready",
                                    openapi_schema=ECHO_SCHEMA, cog_version="0.23.1")
    by_member = _ran(runs.create_prediction(bob, shared, {"text": "a"}), 1)
    by_outsider = _ran(runs.create_prediction(mallory, shared, {"text": "b"}), 1)
    assert (by_member.account, by_member.user) == (acme, bob)
    assert by_outsider.account == mallory
    assert billing.spent_this_month(acme) == Decimal("0.001")


def test_trainings_are_billed(alice, version):
    training = Training.objects.create(owner=alice, model=version.model, version=version,
                                       destination=version.model, input={}, account=alice)
    entry = _ran(training, 4)
    assert (entry.kind, entry.cost) == ("training", Decimal("0.004"))


def test_runs_still_going_hold_their_hardwares_price_until_they_end(alice, version, settings, make_prediction):
    """What a limit counts besides the ledger: each run still going, at the price of the hardware it
    runs on (its deployment's, else its model's, else CPU's) for COGMILL_SPEND_RESERVE_SECONDS; a
    token's limit counts only the runs made with it."""
    settings.COGMILL_SPEND_RESERVE_SECONDS = 10
    cpu = Hardware.objects.get(sku="cpu")
    gpu = Hardware.objects.create(sku="test-small", name="Small", price_per_second=Decimal("0.0005"))
    big = Hardware.objects.create(sku="test-big", name="Big", price_per_second=Decimal("0.0014"))
    on_gpu = ready_version(alice, "on-gpu", ECHO_SCHEMA, "g", hardware=gpu)
    deployment = Deployment.objects.create(owner=alice, name="big")
    release = DeploymentRelease.objects.create(deployment=deployment, number=1, version=on_gpu, hardware=big)
    token = ApiToken.objects.create(user=alice, name="ci", lookup="x" * 8, hashed="0" * 64)
    make_prediction(account=alice, status=Status.PROCESSING)  # its model names no hardware: CPU
    make_prediction(of=on_gpu, account=alice, token=token)  # queued: its model's GPU
    make_prediction(of=on_gpu, account=alice, release=release, status=Status.PROCESSING)  # its deployment's
    make_prediction(of=on_gpu, account=alice, status=Status.SUCCEEDED)  # ended: holds nothing
    Training.objects.create(owner=alice, model=on_gpu.model, version=on_gpu, destination=on_gpu.model, input={},
                            account=alice)
    ran = _ran(runs.create_prediction(alice, version, {"text": "a"}), 3)
    held = (cpu.price_per_second + 2 * gpu.price_per_second + big.price_per_second) * 10
    assert billing.spent_or_held_this_month(account=alice) == ran.cost + held
    assert billing.spent_or_held_this_month(token=token) == gpu.price_per_second * 10
    assert billing.reservation("test-big") == Decimal("0.014") and billing.reservation("none") == 0


# ---------------------------------------------------------------- limits

def test_over_the_limit_a_create_is_a_402_and_nothing_is_queued_or_billed(client, alice, version):
    billing.set_limit(account=alice, monthly_limit=Decimal("0.10"))
    _ran(runs.create_prediction(alice, version, {"text": "a"}), 50)  # $0.05 spent; a new run holds $0.06
    before = (Prediction.objects.count(), SpendEntry.objects.count())
    answer = client.post("/v1/predictions", {"version": "alice/echo", "input": {"text": "b"}},
                         content_type="application/json", **bearer(alice))
    assert_problem(answer, 402)
    body = answer.json()
    assert body["title"] == "Monthly spend limit reached"
    assert (body["limit"], body["spend"]) == ("0.10", "0.05")
    assert (Prediction.objects.count(), SpendEntry.objects.count()) == before


def test_a_tokens_own_limit(client, alice, version):
    token, raw = ApiToken.issue(alice, name="ci")
    billing.set_limit(token=token, monthly_limit=Decimal("0.10"))
    headers = {"HTTP_AUTHORIZATION": f"Bearer {raw}"}
    first = client.post("/v1/predictions", {"version": "alice/echo", "input": {"text": "a"}},
                        content_type="application/json", **headers)
    assert first.status_code == 201  # $0.06 held of its $0.10
    assert_problem(client.post("/v1/predictions", {"version": "alice/echo", "input": {"text": "b"}},
                               content_type="application/json", **headers), 402)
    assert client.post("/v1/predictions", {"version": "alice/echo", "input": {"text": "c"}},
                       content_type="application/json", **bearer(alice)).status_code == 201  # other tokens go on


@pytest.mark.django_db(transaction=True)
def test_creates_racing_at_the_edge_of_a_limit_can_not_both_fit(alice, version):
    billing.set_limit(account=alice, monthly_limit=Decimal("0.10"))  # room for one run held at $0.06
    outcomes: list[str] = []
    ready = threading.Barrier(4)

    def create():
        try:
            ready.wait()
            runs.create_prediction(alice, version, {"text": "race"})
            outcomes.append("created")
        except SpendLimitReached:
            outcomes.append("refused")
        finally:
            connection.close()

    threads = [threading.Thread(target=create) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(outcomes) == ["created", "refused", "refused", "refused"]
    assert Prediction.objects.filter(owner=alice).count() == 1


def test_alerts_at_80_and_100_percent_once_a_month(alice, version, django_capture_on_commit_callbacks):
    def ran(text: str, seconds: float) -> None:
        with django_capture_on_commit_callbacks(execute=True):  # the alert goes once the entry is committed
            _ran(runs.create_prediction(alice, version, {"text": text}), seconds)

    alice.email = "alice@example.com"
    alice.save()
    billing.set_limit(account=alice, monthly_limit=Decimal("1.00"))
    ran("a", 500)
    assert billing.alert(alice) is None and mail.outbox == []  # 50%
    ran("b", 350)  # 85%
    assert [m.subject for m in mail.outbox] == ["Cogmill: 80% of alice's monthly spend limit"]
    ran("c", 50)  # 90%: said already
    assert len(mail.outbox) == 1
    ran("d", 100)  # 100%
    assert mail.outbox[-1].subject == "Cogmill: 100% of alice's monthly spend limit"
    assert "refused" in mail.outbox[-1].body and mail.outbox[-1].to == ["alice@example.com"]
    assert billing.notice(alice)["alerted"] == 100


# ---------------------------------------------------------------- usage

def test_usage_matches_the_ledger_by_day_model_hardware_and_token(client, alice, version):
    token, raw = ApiToken.issue(alice, name="ci")
    via_token = runs.create_prediction(alice, version, {"text": "a"}, token=token)
    _ran(via_token, 3)
    _ran(runs.create_prediction(alice, version, {"text": "b"}, source="web"), 2)
    answer = client.get("/v1/account/usage", **bearer(alice))
    assert answer.status_code == 200, answer.content
    usage = answer.json()
    assert (usage["total"], usage["runs"], usage["currency"]) == ("0.00500000", 2, "usd")
    today = [day for day in usage["days"] if day["date"] == timezone.localdate().isoformat()]
    assert today == [{"date": today[0]["date"], "cost": "0.00500000", "runs": 2, "seconds": "5.000"}]
    assert usage["by_model"] == [{"model": "alice/echo", "cost": "0.00500000", "runs": 2}]
    assert usage["by_hardware"] == [{"hardware": "cpu", "cost": "0.00500000", "runs": 2}]
    assert usage["by_token"] == [{"token": "ci", "cost": "0.00300000", "runs": 1},
                                 {"token": "web", "cost": "0.00200000", "runs": 1}]
    ledger = SpendEntry.objects.filter(account=alice)
    assert sum(e.cost for e in ledger if e.token_id == token.pk) == Decimal("0.003")


@pytest.mark.parametrize("query", ["start=yesterday", "start=2026-02-30", "start=2026-03-02&end=2026-03-01",
                                   "start=2020-01-01&end=2026-01-01"])
def test_usage_refuses_bad_ranges(client, alice, query):
    assert_problem(client.get(f"/v1/account/usage?{query}", **bearer(alice)), 400)


def test_the_run_form_says_the_limit_is_reached_and_runs_nothing(alice, version):
    billing.set_limit(account=alice, monthly_limit=Decimal("0.01"))
    page = client_for(alice).post("/alice/echo/predict", {"text": "over"})
    assert page.status_code == 422
    assert "Monthly spend limit reached" in page.content.decode()
    assert not Prediction.objects.exists()


def test_a_deployments_kept_warm_instances_are_billed_by_the_hour_for_their_idle_time(alice, version, cpu_worker):
    deployment = deployments.create_deployment(alice, "warm", "alice/echo", version.version_id, "cpu", 1, 1)
    Instance.objects.filter(release__deployment=deployment).update(worker=cpu_worker, state=InstanceState.READY)
    ten_fifty = timezone.now().replace(hour=10, minute=50, second=0, microsecond=0) - timedelta(days=1)
    assert billing.bill_instances(ten_fifty) == 0  # starts counting
    ran = deployments.create_prediction(alice, deployment, {"text": "a"})
    type(ran).objects.filter(pk=ran.pk).update(status=Status.PROCESSING, started_at=ten_fifty)
    ran.refresh_from_db()
    runs.end(ran, Status.SUCCEEDED, metrics={"predict_time": 100}, completed_at=ten_fifty + timedelta(minutes=2))
    assert billing.bill_instances(ten_fifty + timedelta(minutes=5)) == 0  # 10:55: the hour goes on
    assert billing.bill_instances(ten_fifty + timedelta(minutes=10)) == 1  # 11:00: the 10:00 hour is over
    assert billing.bill_instances(ten_fifty + timedelta(minutes=15)) == 0  # billed once
    entry = SpendEntry.objects.get(kind="instances")
    # Up 10:50-11:00 (600 s), of which 100 s were billed to the run itself.
    assert (entry.account, entry.deployment, entry.seconds, entry.cost) == (
        alice, "alice/warm", Decimal("500.000"), Decimal("0.5"))
    assert entry.created_at == ten_fifty.replace(minute=0) + timedelta(hours=1)


def test_a_limit_staff_set_is_the_operators_not_the_accounts(alice):
    billing.set_limit(account=alice, monthly_limit=Decimal("5"), by_staff=True)
    with pytest.raises(Forbidden):
        billing.set_limit(account=alice, monthly_limit=None)  # alice can not lift it
    billing.set_limit(account=alice, monthly_limit=None, by_staff=True)
    billing.set_limit(account=alice, monthly_limit=Decimal("2"))  # lifted by staff: hers to set again
    assert not billing.limit_of(alice).locked


@pytest.mark.parametrize("claimed", [-5, "10", True, 10_000])
def test_a_model_can_not_bill_more_than_it_ran_nor_break_the_ledger(alice, version, claimed):
    prediction = runs.create_prediction(alice, version, {"text": "a"})
    type(prediction).objects.filter(pk=prediction.pk).update(
        status=Status.PROCESSING, started_at=timezone.now() - timedelta(seconds=3))
    prediction.refresh_from_db()
    runs.end(prediction, Status.SUCCEEDED, metrics={"predict_time": claimed})
    entry = SpendEntry.objects.get(run_id=prediction.pk)
    assert Decimal(0) <= entry.seconds <= Decimal("3.5")  # at most what Cogmill's clock saw
    if claimed == -5:
        assert entry.seconds == 0


def test_a_person_held_by_a_staff_limit_can_not_spend_through_their_own_organization(alice, acme, version):
    model = Model.objects.create(owner=acme, name="side", visibility="private")
    theirs = Version.objects.create(model=model, version_id="f" * 64, build_status="ready",
                                    openapi_schema=ECHO_SCHEMA, cog_version="0.23.1")
    billing.set_limit(account=alice, monthly_limit=Decimal("0.01"), by_staff=True)
    with pytest.raises(SpendLimitReached):
        runs.create_prediction(alice, theirs, {"text": "a"})  # acme would pay; alice's cap still holds


def test_a_member_is_not_told_the_organizations_amounts(bob, acme):
    model = Model.objects.create(owner=acme, name="team", visibility="private")
    team = Version.objects.create(model=model, version_id="c" * 64, build_status="ready",
                                  openapi_schema=ECHO_SCHEMA, cog_version="0.23.1")
    billing.set_limit(account=acme, monthly_limit=Decimal("0.01"))
    with pytest.raises(SpendLimitReached) as refused:
        runs.create_prediction(bob, team, {"text": "a"})
    assert refused.value.limit is None and "$" not in str(refused.value) and "ask its admins" in str(refused.value)


def test_a_gap_in_counting_is_not_billed(alice, version, cpu_worker):
    deployment = deployments.create_deployment(alice, "gappy", "alice/echo", version.version_id, "cpu", 1, 1)
    Instance.objects.filter(release__deployment=deployment).update(worker=cpu_worker, state=InstanceState.READY)
    monday = timezone.now().replace(minute=0, second=0, microsecond=0) - timedelta(days=4)
    billing.bill_instances(monday)
    billing.bill_instances(monday + timedelta(minutes=1))  # 60 s counted
    billing.bill_instances(monday + timedelta(days=3))  # min was 0 meanwhile, say: counting starts again
    billing.bill_instances(monday + timedelta(days=3, hours=2))  # every hour so far is over
    assert sum(e.seconds for e in SpendEntry.objects.filter(kind="instances")) == Decimal("60.000")


def test_a_deleted_tokens_spend_keeps_its_name(client, alice, version):
    token, _ = ApiToken.issue(alice, name="old-ci")
    _ran(runs.create_prediction(alice, version, {"text": "a"}, token=token), 3)
    token.delete()
    assert client.get("/v1/account/usage", **bearer(alice)).json()["by_token"] == [
        {"token": "old-ci", "cost": "0.00300000", "runs": 1}]
