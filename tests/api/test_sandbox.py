"""A hostile model pushed through the API, against a real worker with the sandbox on.

It tries to read the database, the worker's environment, another user's bundle and upload; to
write into venvs; to reach Redis, PostgreSQL, Cogmill's web server, another model's Cog server and
the internet; to fork-bomb, allocate past the memory limit, fill its scratch space, burn CPU and
sleep past the time limit. Every attempt fails, each limit's run ends saying which limit it hit,
and the worker and the other models keep serving."""

import io
import json
import os
import tempfile
from pathlib import Path

import httpx
import pytest
import replicate

from playground.bundles import pack_dir
from tests.server import ROOT, CogmillServer, wait_until

HOSTILE = ROOT / "tests" / "fixtures" / "models" / "hostile"
HELLO = ROOT / "examples" / "hello-world"
READER = ROOT / "tests" / "fixtures" / "models" / "reader"
LIMITS = {
    "COGMILL_SANDBOX": "on",
    "COGMILL_SANDBOX_MEMORY_BYTES": str(512 * 2**20),
    "COGMILL_SANDBOX_PROCESSES": "128",
    "COGMILL_SANDBOX_SCRATCH_BYTES": str(64 * 2**20),
    "COGMILL_SANDBOX_FILE_BYTES": str(32 * 2**20),
    "COGMILL_SANDBOX_OPEN_FILES": "256",
    "COGMILL_SANDBOX_CPU_SECONDS": "3",
    "COGMILL_PREDICTION_TIMEOUT": "15",
}


def _push(server: CogmillServer, token: str, ref: str, folder: Path) -> str:
    headers = {"Authorization": f"Bearer {token}"}
    response = httpx.post(f"{server.base_url}/v1/models/{ref}/versions", headers=headers, timeout=60,
                          files={"bundle": ("model.tar.gz", pack_dir(folder), "application/gzip")})
    assert response.status_code == 201, response.text
    url = f"{server.base_url}/v1/models/{ref}/versions/{response.json()['id']}"

    def ready():
        build = httpx.get(url, headers=headers).json()["build"]
        assert build["status"] != "failed", build["logs"]
        return build["status"] == "ready"

    wait_until(ready, 300, 0.2, f"{ref} to build")
    return response.json()["id"]


@pytest.fixture(scope="module")
def server():
    server = CogmillServer(Path(tempfile.mkdtemp(prefix="cogmill-sandbox-")), extra_env=LIMITS)
    try:
        server.start()
        alice, bob = server.token("alice"), server.token("bob")
        server.alice_token = alice
        server.hostile = _push(server, alice, "alice/hostile", HOSTILE)
        server.hello = _push(server, bob, "bob/hello", HELLO)
        server.reader = _push(server, alice, "alice/reader", READER)
        server.alice = replicate.Client(api_token=alice, base_url=server.base_url)
        server.bob = replicate.Client(api_token=bob, base_url=server.base_url)
        upload = server.bob.files.create(io.BytesIO(b"bob's private notes"), filename="notes.txt")
        server.bob_upload = upload
        assert server.bob.run(f"bob/hello:{server.hello}", input={"text": "bob"}) == "hello bob"  # his instance runs
        yield server
    finally:
        server.stop()


def attack(server, attack: str, target: str = "") -> dict:
    prediction = server.alice.predictions.create(f"alice/hostile:{server.hostile}",
                                                 input={"attack": attack, "target": target})
    prediction.wait()
    return {"status": prediction.status, "error": prediction.error,
            "output": json.loads(prediction.output) if prediction.status == "succeeded" else None}


def refused(server, what: str, target: str) -> dict:
    result = attack(server, what, target)
    assert result["status"] == "succeeded", result
    report = result["output"]
    assert report["ok"] is False, f"{what} {target} was allowed: {report}"
    return report


def test_the_model_runs_as_a_user_of_its_own_and_sees_only_its_own_processes(server):
    me = attack(server, "whoami")["output"]
    assert me["uid"] != os.getuid() and me["uid"] >= 200_000
    assert len(me["processes"]) < 10  # its own PID namespace: no worker, no web server, no other model
    assert "proc" in me["root"] and "etc" in me["root"]


def test_it_cannot_read_the_database_secrets_or_other_users_files(server):
    data = server.data_dir
    worker = server.procs["worker"].pid
    others = [v for v in (server.hello, server.reader) if v != server.hostile]
    bundles = [str(data / "versions" / f"{v}.tar.gz") for v in others]
    sources = [str(data / "versions" / v / "src" / "predict.py") for v in others]
    uploads = [str(path) for path in data.glob("files/uploads/*")]
    assert len(uploads) >= 1 and all(map(os.path.exists, bundles + sources)), "each should be there to try"
    targets = [f"/proc/{worker}/environ", f"/proc/{worker}/cmdline", str(data / "redis.rdb"), str(data / "worker.log"),
               *bundles, *sources, *uploads]
    if (data / "cogmill.sqlite3").exists():
        targets.append(str(data / "cogmill.sqlite3"))
    for target in targets:
        report = refused(server, "read", target)
        assert "bob's private notes" not in json.dumps(report)
    # Of the data folder it sees only the way to its own bundle.
    assert attack(server, "list", str(data))["output"] == {"ok": True, "result": ["versions"]}
    assert attack(server, "list", str(data / "versions"))["output"] == {"ok": True, "result": [server.hostile]}


def test_it_cannot_write_into_any_venv_or_its_own_bundle(server):
    venvs = sorted(Path(os.environ["COGMILL_VENVS_DIR"]).glob("*/lib/python3*/site-packages"))
    assert venvs
    for site in venvs:
        refused(server, "write", str(site / "sitecustomize.py"))
    for bundle in server.data_dir.glob("versions/*/src"):
        refused(server, "write", str(bundle / "predict.py"))
    refused(server, "write", "/usr/lib/evil.py")
    refused(server, "write", "/run/cogmill/cog.sock")  # the worker's sockets: nothing to swap for a link


def test_it_reaches_no_service_no_other_model_and_not_the_internet(server):
    targets = ["127.0.0.1:6379", "127.0.0.1:5432", f"127.0.0.1:{server.port}", "1.1.1.1:443", "8.8.8.8:53",
               *map(str, server.data_dir.glob("*.sock")), *map(str, server.data_dir.glob("sandboxes/*/run/cog.sock"))]
    for target in targets:
        refused(server, "connect", target)


def test_with_internet_access_it_still_reaches_no_private_loopback_or_link_local_address(server):
    """Its owner lets it reach the internet: HTTP now goes through the worker's proxy, which refuses
    what is not public (cloud metadata, the private network, this machine), and it still has no
    network of its own."""
    patch = httpx.patch(f"{server.base_url}/v1/models/alice/hostile", json={"internet_access": True},
                        headers={"Authorization": f"Bearer {server.alice_token}"})
    assert patch.status_code == 200, patch.text
    try:
        for url in ["http://169.254.169.254/latest/meta-data/", "http://10.0.0.1/", f"http://0x7f000001:{server.port}/"]:
            report = refused(server, "fetch", url)
            assert "403" in report["error"], report
        refused(server, "connect", "127.0.0.1:6379")
        refused(server, "connect", "1.1.1.1:443")
    finally:
        httpx.patch(f"{server.base_url}/v1/models/alice/hostile", json={"internet_access": False},
                    headers={"Authorization": f"Bearer {server.alice_token}"})


def test_an_input_file_is_fetched_by_cogmill_never_by_the_model(server):
    """An upload reaches the model as a file it can read; a private address given as an input URL is
    refused by the worker's guard; a path on the server is not an input at all."""
    reader = f"alice/reader:{server.reader}"
    mine = server.alice.files.create(io.BytesIO(b"alice's text"), filename="mine.txt")
    assert server.alice.run(reader, input={"file": mine.urls["get"]}) == "alice's text"
    inside = server.alice.predictions.create(reader, input={"file": f"{server.base_url}/healthz"})
    inside.wait()
    assert inside.status == "failed"
    assert inside.error.startswith("Could not fetch input file: 127.0.0.1 is a private, loopback"), inside.error
    with pytest.raises(replicate.exceptions.ReplicateError) as refused_path:
        server.alice.predictions.create(reader, input={"file": "/etc/passwd"})
    assert refused_path.value.status == 422 and "must be a URL" in str(refused_path.value.detail)


@pytest.mark.parametrize("what, error", [
    ("fork_bomb", "The model started more than 128 processes and threads"),
    ("allocate", "The model used more than 512 MiB of memory"),
    ("fill_disk", "The model filled its 64 MiB of scratch space (/tmp)"),
    ("big_file", "The model wrote a file larger than 32 MiB"),
    ("open_files", "The model opened more than 256 files at once"),
    ("burn_cpu", "The model used more than 3 s of CPU time on this run"),
    ("sleep", "Prediction timed out after 15s"),
])
def test_each_limit_fails_the_run_saying_which_and_everything_keeps_serving(server, what, error):
    result = attack(server, what)
    assert result["status"] == "failed" and result["error"] == error, result
    after = attack(server, "whoami")
    assert after["status"] == "succeeded", after  # a fresh instance of it serves
    assert server.bob.run(f"bob/hello:{server.hello}", input={"text": "still"}) == "hello still"
