"""The statements written on the cursor (cogmill/sql.py) read and write rows exactly as the ORM
does, on whichever database the suite runs: the same instances, every column converted the same
way (datetimes, decimals, JSON, booleans), values adapted by their fields, NULLs as None."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from cogmill import sql
from playground.errors import TooManyRunning
from playground.models import Hardware, HardwarePrice, Prediction, SpendLimit, Status, versions_with_models
from playground.services import billing, quotas
from tests.unit.conftest import ready_version

pytestmark = pytest.mark.django_db


def _columns(instance) -> dict:
    """Every column the instance has loaded (deferred ones are left out: reading them is a query),
    as its type and repr: True is not 1, Decimal("1.50") is not Decimal("1.5")."""
    deferred = instance.get_deferred_fields()
    return {f.attname: (type(getattr(instance, f.attname)), repr(getattr(instance, f.attname)))
            for f in type(instance)._meta.concrete_fields if f.attname not in deferred}


def test_a_row_read_on_the_cursor_is_the_instance_the_orm_reads(make_prediction):
    run = make_prediction(input={"text": "héllo \"quoted\"", "n": [1, 2.5, None]}, output={"a": ["ü", 3]},
                          metrics={"predict_time": 0.25}, started_at=timezone.now(), is_public=True,
                          deadline=timezone.now() + timedelta(minutes=3))
    table = sql.Table(Prediction)
    (row,) = sql.fetch(f"SELECT {table.columns()} FROM {sql.quote(table.name)} WHERE id = %s", [run.pk])
    assert _columns(table.instance(row)) == _columns(Prediction.objects.get(pk=run.pk))


def test_an_update_on_the_cursor_matches_what_it_says_and_returns_the_rows_after_it(make_prediction):
    queued, ended = make_prediction(), make_prediction(status=Status.SUCCEEDED)
    now = timezone.now()
    changed = sql.update(Prediction, {"status": Status.PROCESSING, "started_at": now, "output": ["x", {"y": 1}]},
                         {"id": [queued.pk, ended.pk], "status": Status.STARTING, "worker": ""},
                         returning=sql.Table(Prediction))
    assert [run.pk for run in changed] == [queued.pk]
    assert _columns(changed[0]) == _columns(Prediction.objects.get(pk=queued.pk))
    assert changed[0].started_at == now and changed[0].output == ["x", {"y": 1}]
    assert Prediction.objects.get(pk=ended.pk).status == Status.SUCCEEDED  # not matched: untouched
    assert sql.update(Prediction, {"status": Status.FAILED}, {"id": queued.pk, "completed_at": None}) == 1
    assert sql.update(Prediction, {"status": Status.FAILED}, {"id": queued.pk},
                      condition=f"{sql.column(Prediction, 'started_at')} > %s",
                      condition_params=[sql.value(Prediction, "started_at", now)]) == 0


def test_versions_with_their_models_are_what_select_related_loads(alice, version):
    gpu = Hardware.objects.create(sku="gpu-x", name="GPU X", price_per_second=Decimal("0.00123400"))
    on_gpu = ready_version(alice, "on-gpu", version.openapi_schema, "b", hardware=gpu)
    for wanted in (version, on_gpu):
        (found,) = versions_with_models("v.id = %s", [wanted.pk])
        orm = type(wanted).objects.select_related("model__owner", "model__hardware").get(pk=wanted.pk)
        assert found.get_deferred_fields() == {"build_log"}  # long, and never needed to run it
        assert _columns(found) == {k: v for k, v in _columns(orm).items() if k != "build_log"}
        assert _columns(found.model) == _columns(orm.model)
        assert _columns(found.model.owner) == _columns(orm.model.owner)
        assert found.model.hardware_sku == orm.model.hardware_sku
    assert found.model.hardware.price_per_second == Decimal("0.00123400")
    assert versions_with_models("v.id = %s", [on_gpu.pk + 1000]) == []


def test_prices_limits_and_quotas_on_the_cursor(alice, version, make_prediction, settings):
    gpu = Hardware.objects.create(sku="gpu-y", name="GPU Y", price_per_second=Decimal("0.002"))
    then = timezone.now() - timedelta(hours=1)
    billing.set_price(gpu, Decimal("0.005"), at=then)
    assert billing.price_in_force(gpu, then - timedelta(seconds=1)) == Decimal("0.002")
    assert billing.price_in_force(gpu, timezone.now()) == Decimal("0.005")
    assert HardwarePrice.objects.filter(hardware=gpu).count() == 2

    assert billing.limit_of(alice) is None
    SpendLimit.objects.create(account=alice, monthly_limit=Decimal("12.50"))
    assert billing.limit_of(alice.pk).monthly_limit == Decimal("12.50")

    make_prediction(), make_prediction(status=Status.PROCESSING), make_prediction(status=Status.FAILED)
    settings.COGMILL_MAX_ACTIVE_RUNS = 3
    quotas.check_new_run(alice)  # two that have not ended: room for a third
    settings.COGMILL_MAX_ACTIVE_RUNS = 2
    with pytest.raises(TooManyRunning, match="already has 2 runs in progress"):
        quotas.check_new_run(alice)


def test_a_versions_schema_is_parsed_once_for_each_text(alice, version):
    """The spec and schema of versions read for runs are parsed once per process for each text
    the database holds, and shared: a version with another schema gets its own."""
    same = ready_version(alice, "same-schema", version.openapi_schema, "b")
    other_schema = {**version.openapi_schema, "info": {"title": "another", "version": "1"}}
    other = ready_version(alice, "other-schema", other_schema, "c")
    (first,), (again,), (twin,), (different,) = (
        versions_with_models("v.id = %s", [v.pk]) for v in (version, version, same, other))
    assert first.openapi_schema == version.openapi_schema and different.openapi_schema == other_schema
    assert first.openapi_schema is again.openapi_schema is twin.openapi_schema
    assert different.openapi_schema is not first.openapi_schema
