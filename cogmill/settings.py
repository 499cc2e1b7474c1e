"""Cogmill settings, read from the environment (see README: Configuration)."""

import os
import secrets
import socket
from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from cogmill import embedded_redis
from cogmill.env import env_bool, env_float, env_int, env_str
from runner import sandbox

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(env_str("COGMILL_DATA_DIR", str(BASE_DIR / ".cogmill"))).resolve()
DATA_DIR.mkdir(parents=True, exist_ok=True)


def _secret_key() -> str:
    """SECRET_KEY, or else one made for this data folder when it is first used (mode 0600): never a
    key anyone else knows. COGMILL_REQUIRE_SECRET_KEY (the production image) refuses to go without."""
    if key := env_str("SECRET_KEY"):
        return key
    if env_bool("COGMILL_REQUIRE_SECRET_KEY", False):
        raise ImproperlyConfigured("SECRET_KEY is not set: give this Cogmill a long random secret of its own "
                                   "(e.g. python -c 'import secrets; print(secrets.token_urlsafe(50))')")
    path = DATA_DIR / "secret_key"
    if not path.exists():
        made = DATA_DIR / f".secret_key.{os.getpid()}"
        with os.fdopen(os.open(made, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as handle:
            handle.write(secrets.token_urlsafe(50))
        try:
            os.link(made, path)  # atomic: of processes starting together, one key wins
        except FileExistsError:
            pass
        made.unlink()
    return path.read_text().strip()


SECRET_KEY = _secret_key()
DEBUG = env_bool("DEBUG", False)
PORT = env_int("PORT", 8000)
PUBLIC_URL = env_str("PUBLIC_URL", f"http://127.0.0.1:{PORT}").rstrip("/")
_PUBLIC = urlsplit(PUBLIC_URL)
# Requests must name this site: PUBLIC_URL's host (and this machine's own names) unless set.
ALLOWED_HOSTS = [h for h in env_str("ALLOWED_HOSTS", ",".join(
    dict.fromkeys([_PUBLIC.hostname or "localhost", "localhost", "127.0.0.1", "[::1]"]))).split(",") if h]
CSRF_TRUSTED_ORIGINS = [PUBLIC_URL]
if _PUBLIC.scheme == "https":
    # Served over https (usually behind a proxy that ends TLS and says so in X-Forwarded-Proto):
    # cookies only over https, and browsers told to come back over https alone.
    SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = True
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_HSTS_SECONDS = env_int("COGMILL_HSTS_SECONDS", 31536000)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_htmx",
    # /v1/docs renders ninja's own template and swagger-ui assets (served by whitenoise), not a CDN's.
    "ninja",
    "accounts",
    "playground",
    "api",
    "web",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "api.middleware.ApiErrorsMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "web.middleware.DomainErrorsMiddleware",
]

ROOT_URLCONF = "cogmill.urls"
ASGI_APPLICATION = "cogmill.asgi.application"
WSGI_APPLICATION = "cogmill.wsgi.application"
AUTH_USER_MODEL = "accounts.User"
APPEND_SLASH = False

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# A connection is kept for a minute (DB_CONN_MAX_AGE, seconds; 0 closes it after each request or
# task) by the thread that opened it: web requests run on kept threads (cogmill/request_threads.py),
# the worker's on its pool's. It is checked before each request or task uses it again, so one the
# database dropped (a restart) is replaced, not used.
DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", f"sqlite:///{DATA_DIR / 'cogmill.sqlite3'}"),
        conn_max_age=env_int("DB_CONN_MAX_AGE", 60),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # Several processes write to one file: wait for locks instead of failing, and let
    # readers go on while a writer commits.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 30,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    DATABASES["default"]["TEST"] = {"NAME": str(DATA_DIR / "test.sqlite3")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_EMBEDDED = not env_str("REDIS_URL")
REDIS_URL = env_str("REDIS_URL") or embedded_redis.ensure(DATA_DIR)


def _celery_url(redis_url: str) -> str:
    # kombu spells unix sockets redis+socket://
    return redis_url.replace("unix://", "redis+socket://", 1)


CELERY_BROKER_URL = _celery_url(REDIS_URL)
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_ACKS_LATE = False
# Celery closes every database connection before and after each task; here a connection is kept as
# the web keeps its (DB_CONN_MAX_AGE) and checked before each task instead (playground/tasks.py).
CELERY_DB_REUSE_MAX = 2**31
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_TASK_DEFAULT_QUEUE = "celery"
CELERY_BEAT_SCHEDULE_FILENAME = str(DATA_DIR / "celerybeat-schedule")

STATIC_URL = "/static/"
STATIC_ROOT = DATA_DIR / "staticfiles"
STATIC_ROOT.mkdir(exist_ok=True)
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(DATA_DIR / "files")},
    },
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
LOGIN_URL = "/login"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# Cogmill's own knobs.
COGMILL_IDLE_SECONDS = env_float("COGMILL_IDLE_SECONDS", 300.0)
COGMILL_VENVS_DIR = Path(env_str("COGMILL_VENVS_DIR", str(DATA_DIR / "venvs")))
COGMILL_BUNDLES_DIR = DATA_DIR / "versions"
COGMILL_MAX_BUNDLE_BYTES = env_int("COGMILL_MAX_BUNDLE_BYTES", 200 * 1024 * 1024)
# What a bundle may unpack to: files, bytes, and bytes per byte of the bundle (a gzip bomb's tell).
COGMILL_MAX_BUNDLE_FILES = env_int("COGMILL_MAX_BUNDLE_FILES", 10_000)
COGMILL_MAX_BUNDLE_EXPANDED_BYTES = env_int("COGMILL_MAX_BUNDLE_EXPANDED_BYTES", 2 * 1024**3)
COGMILL_MAX_BUNDLE_RATIO = env_int("COGMILL_MAX_BUNDLE_RATIO", 100)
COGMILL_ALLOW_ROOT_BUILD_STEPS = env_bool("COGMILL_ALLOW_ROOT_BUILD_STEPS", False)
# The model sandbox (README: Security model). auto: on wherever bubblewrap can make its namespaces;
# on: refuse to start without it; off: models run as the server's own user (for trusted pushers only).
COGMILL_SANDBOX = env_str("COGMILL_SANDBOX", "auto").strip().lower()
if COGMILL_SANDBOX not in ("auto", "on", "off"):
    raise ImproperlyConfigured(f"COGMILL_SANDBOX must be auto, on or off, not {COGMILL_SANDBOX!r}")
COGMILL_SANDBOX_MISSING = "it is turned off (COGMILL_SANDBOX=off)" if COGMILL_SANDBOX == "off" else sandbox.unavailable()
COGMILL_SANDBOX_ACTIVE = COGMILL_SANDBOX_MISSING is None
if COGMILL_SANDBOX == "on" and not COGMILL_SANDBOX_ACTIVE:
    raise ImproperlyConfigured(f"COGMILL_SANDBOX=on, but the model sandbox cannot be set up: {COGMILL_SANDBOX_MISSING}")
# The longest a build's pip install may take (it runs in a sandbox that reaches only the package index).
COGMILL_BUILD_TIMEOUT = env_float("COGMILL_BUILD_TIMEOUT", 3600.0)
# What one model instance may use (0: no limit of that kind); a run that goes past one fails saying
# which, and the instance is replaced. CPU seconds are the instance's, counted per run.
COGMILL_SANDBOX_LIMITS = sandbox.Limits(
    memory_bytes=env_int("COGMILL_SANDBOX_MEMORY_BYTES", 8 * 2**30),
    processes=env_int("COGMILL_SANDBOX_PROCESSES", 512),
    open_files=env_int("COGMILL_SANDBOX_OPEN_FILES", 4096),
    file_bytes=env_int("COGMILL_SANDBOX_FILE_BYTES", 4 * 2**30),
    scratch_bytes=env_int("COGMILL_SANDBOX_SCRATCH_BYTES", 4 * 2**30),
    cpu_seconds=env_float("COGMILL_SANDBOX_CPU_SECONDS", 3600.0),
)
# As root, each live sandbox runs as its own uid from this one up (nothing else may use that range).
COGMILL_SANDBOX_UID_BASE = env_int("COGMILL_SANDBOX_UID_BASE", 200_000)
# Folders of this machine that every model may read (never write), at the same path: e.g. a shared
# cache of weights. Comma-separated; nothing by default.
COGMILL_SANDBOX_SHARED_PATHS = tuple(Path(p) for p in env_str("COGMILL_SANDBOX_SHARED_PATHS").split(",") if p)
# Who may push model code: everyone (any account), staff, or granted (those given the "Can push
# models" permission in the admin; superusers always may). everyone needs the sandbox.
COGMILL_PUSH = env_str("COGMILL_PUSH", "everyone" if COGMILL_SANDBOX_ACTIVE else "staff").strip().lower()
if COGMILL_PUSH not in ("everyone", "staff", "granted"):
    raise ImproperlyConfigured(f"COGMILL_PUSH must be everyone, staff or granted, not {COGMILL_PUSH!r}")
if COGMILL_PUSH == "everyone" and not COGMILL_SANDBOX_ACTIVE:
    raise ImproperlyConfigured(
        "COGMILL_PUSH=everyone lets anyone run code on this machine, and the model sandbox cannot be set "
        f"up: {COGMILL_SANDBOX_MISSING}. Set COGMILL_PUSH=staff (or granted) to let only trusted people push.")
# Limits of the JSON API (API.md: errors): JSON bodies, and per-token requests a minute (0: no limit).
COGMILL_MAX_REQUEST_BYTES = env_int("COGMILL_MAX_REQUEST_BYTES", 10 * 1024 * 1024)
# A page's form (log-in, settings, ...) other than a model's run and train forms, which carry files.
COGMILL_MAX_FORM_BYTES = env_int("COGMILL_MAX_FORM_BYTES", 1024 * 1024)
COGMILL_RATE_LIMIT_CREATES_PER_MINUTE = env_int("COGMILL_RATE_LIMIT_CREATES_PER_MINUTE", 600)
COGMILL_RATE_LIMIT_REQUESTS_PER_MINUTE = env_int("COGMILL_RATE_LIMIT_REQUESTS_PER_MINUTE", 3000)
# Attempts to log in (per client address and per account name) and to sign up (per address).
COGMILL_RATE_LIMIT_LOGINS_PER_MINUTE = env_int("COGMILL_RATE_LIMIT_LOGINS_PER_MINUTE", 10)
COGMILL_RATE_LIMIT_SIGNUPS_PER_MINUTE = env_int("COGMILL_RATE_LIMIT_SIGNUPS_PER_MINUTE", 5)
# Django's own cap on a body read into memory: JSON bodies are capped lower by the API, but a version
# push may send its bundle as the raw body. Uploaded files above 2.5 MiB spool to disk, never memory.
DATA_UPLOAD_MAX_MEMORY_SIZE = max(COGMILL_MAX_REQUEST_BYTES, COGMILL_MAX_BUNDLE_BYTES)
FILE_UPLOAD_MAX_MEMORY_SIZE = 2_621_440
# What one account may hold at once (playground/services/quotas.py; 0: no limit): stored bytes
# (files and version bundles), and runs in progress.
COGMILL_STORAGE_QUOTA_BYTES = env_int("COGMILL_STORAGE_QUOTA_BYTES", 50 * 1024**3)
COGMILL_MAX_ACTIVE_RUNS = env_int("COGMILL_MAX_ACTIVE_RUNS", 100)
COGMILL_PREDICTION_TIMEOUT = env_float("COGMILL_PREDICTION_TIMEOUT", 30 * 60)
COGMILL_TRAINING_TIMEOUT = env_float("COGMILL_TRAINING_TIMEOUT", 6 * 3600)
# Fault tolerance (README: Operating Cogmill). A worker holds each run it takes with a lease that it
# renews every third of COGMILL_RUN_LEASE_SECONDS; beat's reaper, every COGMILL_REAP_INTERVAL_SECONDS,
# hands back runs whose lease ran out and queues again a waiting run nobody claimed within
# COGMILL_REQUEUE_AFTER_SECONDS of its message (then at doubling intervals).
COGMILL_RUN_LEASE_SECONDS = env_float("COGMILL_RUN_LEASE_SECONDS", 30.0)
COGMILL_REAP_INTERVAL_SECONDS = env_float("COGMILL_REAP_INTERVAL_SECONDS", 10.0)
COGMILL_REQUEUE_AFTER_SECONDS = env_float("COGMILL_REQUEUE_AFTER_SECONDS", 120.0)
# How long `make run` lets the worker finish running work when stopped, before handing the rest back.
COGMILL_STOP_GRACE_SECONDS = env_float("COGMILL_STOP_GRACE_SECONDS", 30.0)


def _names(name: str, default: str) -> list[str]:
    return [part.strip() for part in env_str(name, default).split(",") if part.strip()]


# A worker: the name it goes by (one per machine is the custom), the hardware SKUs whose queues it
# reads (`hw.<sku>`), and its GPUs (each instance of a `gpu: true` model gets one of its own).
# `python -m cogmill.worker --hardware cpu,gpu-a40 --gpus 0,1` sets these.
COGMILL_WORKER_NAME = env_str("COGMILL_WORKER_NAME") or socket.gethostname()
COGMILL_WORKER_HARDWARE = _names("COGMILL_WORKER_HARDWARE", "cpu")
COGMILL_WORKER_GPUS = _names("COGMILL_WORKER_GPUS", "")
# A worker that has not said it is alive for this long is counted as gone.
COGMILL_WORKER_STALE_SECONDS = env_float("COGMILL_WORKER_STALE_SECONDS", 60.0)
# Deployments: the most instances one may ask for; how long an instance above its deployment's
# min_instances stays up idle; how often beat's scaler looks at every deployment.
COGMILL_DEPLOYMENT_MAX_INSTANCES = env_int("COGMILL_DEPLOYMENT_MAX_INSTANCES", 10)
COGMILL_SCALE_DOWN_SECONDS = env_float("COGMILL_SCALE_DOWN_SECONDS", 300.0)
COGMILL_SCALE_INTERVAL_SECONDS = env_float("COGMILL_SCALE_INTERVAL_SECONDS", 5.0)
# Mail (spend alerts): printed to the console unless a backend is named, e.g.
# django.core.mail.backends.smtp.EmailBackend (its host and login: OPTIONS in MAILERS, Django 6.1).
MAILERS = {"default": {"BACKEND": env_str("COGMILL_EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")}}
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "cogmill@localhost")
# Spend limits: a run still going counts as this many seconds of its hardware until it ends.
COGMILL_SPEND_RESERVE_SECONDS = env_float("COGMILL_SPEND_RESERVE_SECONDS", 60.0)
COGMILL_SSE_KEEPALIVE_SECONDS = env_float("COGMILL_SSE_KEEPALIVE_SECONDS", 15.0)
# `urls.stream` opens a run's live stream without a token for this long after it is handed out (a
# GET of the run hands out a fresh one); a reader with a token or session that may see the run
# needs none. Concurrent streams: at most this many readers of one run (its owner aside), and per
# client (an account, the run owner's for a holder of `urls.stream`, else an address).
COGMILL_STREAM_URL_SECONDS = env_int("COGMILL_STREAM_URL_SECONDS", 3600)
COGMILL_STREAMS_PER_RUN = env_int("COGMILL_STREAMS_PER_RUN", 50)
COGMILL_STREAMS_PER_CLIENT = env_int("COGMILL_STREAMS_PER_CLIENT", 100)
# A stored file's URL (/output/<id>/<name>), as the API, webhooks and pages hand it out, opens it
# without a token for this long (rounded up to the hour); after that, only for whoever may see its run.
COGMILL_FILE_URL_SECONDS = env_int("COGMILL_FILE_URL_SECONDS", 24 * 3600)
# /healthz works its answer out at most this often (per web process); anyone may ask.
COGMILL_HEALTH_CACHE_SECONDS = env_float("COGMILL_HEALTH_CACHE_SECONDS", 5.0)
# Accounts whose models are `is_official` (kept by the people who run this Cogmill, like Replicate's
# official models); `make run` pushes the examples as `cogmill`.
COGMILL_OFFICIAL_OWNERS = [name.strip() for name in env_str("COGMILL_OFFICIAL_OWNERS", "cogmill").split(",")
                           if name.strip()]
# Uploads (POST /v1/files): the largest accepted, and how long one stays usable as a model input.
COGMILL_MAX_UPLOAD_BYTES = env_int("COGMILL_MAX_UPLOAD_BYTES", 100 * 1024 * 1024)
COGMILL_FILE_TTL_HOURS = env_float("COGMILL_FILE_TTL_HOURS", 24.0)
# Input files given by URL are fetched by the worker, never the model (playground/worker/inputs.py):
# at most this big and this slow, and only from public addresses unless allowed (for tests).
COGMILL_FETCH_MAX_BYTES = env_int("COGMILL_FETCH_MAX_BYTES", COGMILL_MAX_UPLOAD_BYTES)
COGMILL_FETCH_TIMEOUT = env_float("COGMILL_FETCH_TIMEOUT", 60.0)
COGMILL_FETCH_ALLOW_PRIVATE = env_bool("COGMILL_FETCH_ALLOW_PRIVATE", False)
# A zip given to a training may expand to at most this much (its members' sizes together).
COGMILL_MAX_ZIP_EXPANDED_BYTES = env_int("COGMILL_MAX_ZIP_EXPANDED_BYTES", 1024 * 1024 * 1024)


def _seconds_list(name: str, default: str) -> list[float]:
    return [float(part) for part in env_str(name, default).split(",") if part.strip()]


# Webhooks: private/loopback destinations are refused unless allowed (local development, tests).
COGMILL_WEBHOOK_ALLOW_PRIVATE = env_bool("COGMILL_WEBHOOK_ALLOW_PRIVATE", False)
COGMILL_WEBHOOK_TIMEOUT = env_float("COGMILL_WEBHOOK_TIMEOUT", 10.0)
# Retries after a failed attempt: the short ones are Celery countdowns, the long ones database
# rows swept by beat every minute; about a day in all, then the delivery is given up.
COGMILL_WEBHOOK_RETRY_DELAYS = _seconds_list("COGMILL_WEBHOOK_RETRY_DELAYS", "1,5,30,120")
COGMILL_WEBHOOK_LONG_RETRY_DELAYS = _seconds_list(
    "COGMILL_WEBHOOK_LONG_RETRY_DELAYS", "300,600,1800,3600,7200,14400,28800,28800"
)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {
        "httpx": {"level": "WARNING"}, "httpcore": {"level": "WARNING"},
        # Celery's two lines for every task it receives and finishes: a run's row says that already.
        # A task that fails is still logged (an error).
        "celery.app.trace": {"level": "WARNING"}, "celery.worker.strategy": {"level": "WARNING"},
        # uvicorn's line for every request: off unless COGMILL_ACCESS_LOG (a proxy in front logs them
        # anyway; writing them costs the web a few percent of its CPU at full load).
        "uvicorn.access": {"level": "INFO" if env_bool("COGMILL_ACCESS_LOG", False) else "WARNING",
                           "handlers": ["console"], "propagate": False},
    },
}

# Task names as playground.dispatch spells them (settings load before any app).
CELERY_BEAT_SCHEDULE = {
    # A sweep no worker took before the next one is due is dropped, not piled up.
    "reap-stuck-predictions": {"task": "playground.reap_stuck_predictions", "schedule": COGMILL_REAP_INTERVAL_SECONDS,
                               "options": {"expires": COGMILL_REAP_INTERVAL_SECONDS}},
    "purge-expired-uploads": {"task": "playground.purge_expired_uploads", "schedule": 3600.0},
    "retry-webhooks": {"task": "playground.retry_webhooks", "schedule": 60.0},
    # Owners' data retention (the account page): inputs, outputs and logs of API runs past it.
    "remove-expired-run-data": {"task": "playground.remove_expired_run_data", "schedule": 300.0,
                                "options": {"expires": 300.0}},
    # Deployments: min instances kept, waiting runs given instances, old releases stopped.
    # Deployments' kept-warm instances: their up-time added up, each hour billed once it is over.
    "bill-instances": {"task": "playground.bill_instances", "schedule": 60.0, "options": {"expires": 60.0}},
    "scale-deployments": {"task": "playground.scale_deployments", "schedule": COGMILL_SCALE_INTERVAL_SECONDS,
                          "options": {"expires": COGMILL_SCALE_INTERVAL_SECONDS}},
}
