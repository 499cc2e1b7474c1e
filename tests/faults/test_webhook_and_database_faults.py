"""A webhook receiver that is down, then back, gets every message in order; a PostgreSQL restart
answers 503 while it lasts and nothing is lost after it."""

import json
import os
import shutil
import subprocess

import pytest
from django.db import connections

from tests.faults.conftest import TERMINAL
from tests.problems import assert_problem
from tests.server import gate_path, wait_until
from tests.webhook_receiver import Receiver

pytestmark = pytest.mark.timeout(300)


def _attempts(faulty, run_id: str) -> int:
    code = ("from django.db.models import Sum; from playground.models import WebhookDelivery; "
            f"print(WebhookDelivery.objects.filter(run_id={run_id!r}).aggregate(n=Sum('attempts'))['n'] or 0)")
    return int(faulty.manage("shell", "-c", code).stdout.strip().splitlines()[-1])


def test_a_receiver_down_then_back_gets_every_message_in_order(faulty, tmp_path):
    with Receiver() as gone:
        url, port = gone.url(), gone.server.server_address[1]
    opened = gate_path("open")
    opened.touch()
    response = faulty.api("POST", "/v1/predictions", faulty.alice, json={
        "version": faulty.gated, "input": {"gate": str(opened), "tokens": 1},
        "webhook": url, "webhook_events_filter": ["start", "completed"]})
    run = response.json()
    faulty.wait_row(run["id"], lambda r: r["status"] in TERMINAL, what="the run to end")
    wait_until(lambda: _attempts(faulty, run["id"]) >= 2, 60, 0.2, "deliveries to fail while it is down")

    with Receiver(port=port) as back:
        received = wait_until(lambda: [r for r in back.received() if json.loads(r.body)["status"] == "succeeded"]
                              and back.received(), 60, 0.1, "the completed message")
    bodies = [json.loads(r.body) for r in received]
    assert [b["status"] for b in bodies] == ["processing", "succeeded"]  # start first, completed last
    assert bodies[-1]["output"] == ["first ", "t0 "]


def _cluster() -> tuple[str, str] | None:
    """(version, name) of the local PostgreSQL cluster the tests use, when pg_ctlcluster can drive it."""
    if not os.environ.get("DATABASE_URL", "").startswith("postgres") or not shutil.which("pg_lsclusters"):
        return None
    lines = subprocess.run(["pg_lsclusters", "-h"], capture_output=True, text=True).stdout.split("\n")
    found = [line.split() for line in lines if " 5432 " in f" {line} "]
    return (found[0][0], found[0][1]) if found else None


@pytest.mark.skipif(_cluster() is None, reason="needs the PostgreSQL leg (a local cluster on 5432)")
def test_a_postgres_restart_is_503_while_it_lasts_and_then_recovers(faulty, gate):
    version, name = _cluster()
    run = faulty.create(faulty.alice, faulty.gated, gate=str(gate), tokens=1)
    faulty.wait_row(run["id"], lambda r: r["status"] == "processing" and r["output"], what="the run to stream")
    subprocess.run(["pg_ctlcluster", version, name, "stop", "-m", "fast"], check=True, timeout=60)
    try:
        response = faulty.api("GET", f"/v1/predictions/{run['id']}", faulty.alice)
        body = assert_problem(response, 503)
        assert "postgres" not in body["detail"].lower() and response.headers["Retry-After"]
        gate.touch()  # the model finishes while the database is away
    finally:
        subprocess.run(["pg_ctlcluster", version, name, "start"], check=True, timeout=60)
        connections.close_all()  # this test process's own connection died with the server
    ended = wait_until(lambda: (r := faulty.api("GET", f"/v1/predictions/{run['id']}", faulty.alice)).status_code
                       == 200 and r.json()["status"] in TERMINAL and r.json(), 90, 0.5, "the run to end")
    assert ended["status"] in {"succeeded", "failed"}
    assert ended["output"][0] == "first "  # what it streamed before the outage is kept either way
