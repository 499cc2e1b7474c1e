"""Starting Cogmill: without a sandbox, without a secret key; what it allows and refuses to start with."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SHOW = "from django.conf import settings as s; print(s.COGMILL_SANDBOX_ACTIVE, s.COGMILL_PUSH)"


def start(tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    """Load the settings in a fresh process, as every Cogmill process does first."""
    environ = {k: v for k, v in os.environ.items()
               if not k.startswith(("COGMILL_SANDBOX", "COGMILL_PUSH")) and k != "SECRET_KEY"}
    # A Redis URL of its own, so that no embedded Redis starts: nothing here connects to it.
    environ.update(COGMILL_DATA_DIR=str(tmp_path), DJANGO_SETTINGS_MODULE="cogmill.settings",
                   REDIS_URL="redis://127.0.0.1:9/0", **env)
    code = f"import django; django.setup(); {SHOW}"
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=environ, capture_output=True, text=True,
                          timeout=60)


def test_with_the_sandbox_everyone_may_push_by_default(tmp_path):
    started = start(tmp_path)
    assert started.returncode == 0, started.stderr
    assert started.stdout.split() == ["True", "everyone"]


def test_without_a_sandbox_only_staff_may_push_by_default(tmp_path):
    started = start(tmp_path, COGMILL_SANDBOX="off")
    assert started.returncode == 0, started.stderr
    assert started.stdout.split() == ["False", "staff"]


@pytest.mark.parametrize("env, says", [
    ({"COGMILL_SANDBOX": "off", "COGMILL_PUSH": "everyone"},
     "COGMILL_PUSH=everyone lets anyone run code on this machine, and the model sandbox cannot be set up"),
    ({"COGMILL_SANDBOX": "on", "PATH": "/nowhere"},
     "COGMILL_SANDBOX=on, but the model sandbox cannot be set up: bubblewrap (bwrap) is not installed: "
     "install it (Debian/Ubuntu: apt-get install bubblewrap)"),
    ({"COGMILL_PUSH": "anyone"}, "COGMILL_PUSH must be everyone, staff or granted"),
])
def test_it_refuses_to_start_unsafe_and_says_why(tmp_path, env, says):
    started = start(tmp_path, **env)
    assert started.returncode != 0
    assert "ImproperlyConfigured" in started.stderr and says in started.stderr


def test_without_a_secret_key_each_data_folder_gets_its_own_and_keeps_it(tmp_path):
    shown = "from django.conf import settings as s; print(s.SECRET_KEY, s.ALLOWED_HOSTS)"
    code = f"import django; django.setup(); {shown}"

    def key_of(folder: Path) -> list[str]:
        environ = {k: v for k, v in os.environ.items() if k != "SECRET_KEY"}
        environ.update(COGMILL_DATA_DIR=str(folder), DJANGO_SETTINGS_MODULE="cogmill.settings",
                       REDIS_URL="redis://127.0.0.1:9/0", PUBLIC_URL="https://cogmill.example.org")
        out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=environ, capture_output=True, text=True,
                             timeout=60, check=True)
        return out.stdout.split(" ", 1)

    first, hosts = key_of(tmp_path / "a")
    assert len(first) >= 60 and "insecure" not in first
    assert key_of(tmp_path / "a")[0] == first and key_of(tmp_path / "b")[0] != first
    assert oct((tmp_path / "a" / "secret_key").stat().st_mode & 0o777) == "0o600"
    assert "'cogmill.example.org'" in hosts and "'*'" not in hosts


def test_the_production_image_refuses_to_start_without_a_secret_key(tmp_path):
    started = start(tmp_path, COGMILL_REQUIRE_SECRET_KEY="1")
    assert started.returncode != 0 and "SECRET_KEY is not set" in started.stderr


# As the web starts: uvicorn sets up its loggers, then loads the app (Django's settings), then
# logs each request it serves on "uvicorn.access".
SERVE_ONE = ("import uvicorn.config, logging; uvicorn.config.Config('cogmill.asgi:application').configure_logging(); "
             "import django; django.setup(); "
             "logging.getLogger('uvicorn.access').info('%s - \"%s %s HTTP/%s\" %d', '127.0.0.1:5', 'POST', "
             "'/v1/predictions', '1.1', 201)")


@pytest.mark.parametrize("env, logged", [({}, False), ({"COGMILL_ACCESS_LOG": "1"}, True)])
def test_requests_are_logged_only_when_asked(tmp_path, env, logged):
    environ = {k: v for k, v in os.environ.items() if k != "COGMILL_ACCESS_LOG"}
    environ.update(COGMILL_DATA_DIR=str(tmp_path), DJANGO_SETTINGS_MODULE="cogmill.settings",
                   REDIS_URL="redis://127.0.0.1:9/0", **env)
    served = subprocess.run([sys.executable, "-c", SERVE_ONE], cwd=ROOT, env=environ, capture_output=True, text=True,
                            timeout=60)
    assert served.returncode == 0, served.stderr
    assert ('"POST /v1/predictions HTTP/1.1" 201' in served.stdout + served.stderr) is logged, served.stderr
