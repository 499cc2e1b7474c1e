"""Hardware routing in-process: workers report their hardware, runs say when no worker serves theirs,
/healthz and the admin show who serves what, and `python -m cogmill.worker` reads the right queues."""

import os
from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import User
from cogmill.worker import command
from playground.models import Hardware, Instance, Model, Worker
from playground.services import runs
from playground.worker import leases, registry
from tests.unit.conftest import client_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def on_t4(version) -> Model:
    """alice/echo, moved to gpu-t4 hardware."""
    version.model.hardware = Hardware.objects.get(sku="gpu-t4")
    version.model.save()
    return version.model


def test_a_run_on_hardware_no_worker_serves_says_it_waits_and_for_what(alice, version, on_t4):
    prediction = runs.create_prediction(alice, version, {"text": "a"})
    assert "Waiting for a worker with gpu-t4: none is running" in prediction.logs
    page = client_for(alice).get(f"/p/{prediction.id}").content.decode()
    assert 'id="waiting-for"' in page and "<strong>gpu-t4</strong>" in page
    Worker.objects.create(name="t4-box:7", hardware=["gpu-t4"])  # a worker with a T4 reports in
    assert 'id="waiting-for"' not in client_for(alice).get(f"/p/{prediction.id}").content.decode()


def test_a_run_on_served_hardware_has_no_such_note(alice, version):
    assert "Waiting for a worker" not in runs.create_prediction(alice, version, {"text": "a"}).logs


def test_a_worker_that_stopped_beating_serves_nothing(alice, version, on_t4):
    Worker.objects.create(name="t4-box:7", hardware=["gpu-t4"], heartbeat_at=timezone.now() - timedelta(minutes=5))
    assert runs.missing_hardware(on_t4) == "gpu-t4"


def test_the_worker_reports_its_hardware_and_leaves_when_it_stops(settings):
    settings.COGMILL_WORKER_HARDWARE = ["cpu", "gpu-t4"]
    settings.COGMILL_WORKER_GPUS = ["0"]
    registry.register()
    me = Worker.objects.get(name=leases.WORKER_ID)
    assert (me.hardware, me.gpus, list(me.instance_rows.all()), me.is_live) == (["cpu", "gpu-t4"], ["0"], [], True)
    assert registry.beat in leases.ALSO_ON_HEARTBEAT  # the heartbeat keeps the row fresh
    registry.unregister()
    assert not Worker.objects.filter(name=leases.WORKER_ID).exists()
    assert registry.beat not in leases.ALSO_ON_HEARTBEAT


def test_healthz_says_which_hardware_has_live_workers(client, settings):
    settings.COGMILL_HEALTH_CACHE_SECONDS = 0
    Worker.objects.create(name="t4-box:7", hardware=["gpu-t4", "cpu"])
    Worker.objects.create(name="old:1", hardware=["gpu-h100"], heartbeat_at=timezone.now() - timedelta(hours=1))
    hardware = client.get("/healthz").json()["hardware"]
    assert hardware["gpu-t4"] == 1 and hardware["cpu"] >= 2  # this one and the fixture's (at least)
    assert "gpu-h100" not in hardware  # its only worker went silent an hour ago


def test_the_admin_lists_workers_and_their_instances_read_only(client, version):
    User.objects.create_superuser("root", password="a-long-pass-phrase-42")
    client.login(username="root", password="a-long-pass-phrase-42")
    box = Worker.objects.create(name="t4-box:7", hardware=["gpu-t4"], gpus=["0", "1"])
    Instance.objects.create(id="i1", worker=box, key="v1", version=version, state="ready", in_use=1, pid=4242)
    Instance.objects.create(id="i2", worker=box, key="v2", version=version, state="ready")
    page = client.get("/admin/playground/worker/").content.decode()
    assert "t4-box:7" in page and "gpu-t4" in page and "0, 1" in page and "1 busy, 1 ready" in page
    assert "4242" in client.get(f"/admin/playground/worker/{box.pk}/change/").content.decode()
    assert "busy" in client.get("/admin/playground/instance/").content.decode()
    assert client.get("/admin/playground/worker/add/").status_code == 403
    assert client.get("/admin/playground/instance/add/").status_code == 403


def test_the_worker_command_reads_the_queues_of_its_hardware(monkeypatch):
    monkeypatch.delenv("COGMILL_WORKER_QUEUES", raising=False)
    argv, env = command(["--hardware", "cpu, gpu-a40", "--gpus", "0,1", "--name", "box-2", "--prefetch-multiplier", "1"])
    assert argv[argv.index("--queues") + 1] == "celery,builds,webhooks,hw.cpu,hw.gpu-a40"
    assert argv[-2:] == ["--prefetch-multiplier", "1"]  # Celery's own options pass through
    # Its own Celery name (deployment queues are added to one worker by that name), unless given one.
    assert argv[argv.index("--hostname") + 1] == f"box-2.{os.getpid()}@%h"
    assert "--hostname" not in command(["-n", "mine@%h"])[0]
    assert (env["COGMILL_WORKER_HARDWARE"], env["COGMILL_WORKER_GPUS"], env["COGMILL_WORKER_NAME"]) == (
        "cpu,gpu-a40", "0,1", "box-2")
    monkeypatch.setenv("COGMILL_WORKER_QUEUES", "only-this")
    argv, _ = command([])
    assert argv[argv.index("--queues") + 1] == "only-this"
    with pytest.raises(SystemExit):
        command(["--hardware", " , "])


def test_healthz_answers_from_a_short_lived_cache(client, settings):
    """Anyone may ask: a burst of asks costs one look (and its worker ping), not one each."""
    settings.COGMILL_HEALTH_CACHE_SECONDS = 0
    first = client.get("/healthz").json()["hardware"]
    settings.COGMILL_HEALTH_CACHE_SECONDS = 60
    client.get("/healthz")
    Worker.objects.create(name="new-box:1", hardware=["gpu-a100"])
    assert client.get("/healthz").json()["hardware"] == first  # the cached answer
    settings.COGMILL_HEALTH_CACHE_SECONDS = 0
    assert client.get("/healthz").json()["hardware"]["gpu-a100"] == 1
