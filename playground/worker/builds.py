"""Building a version: its environment (venv per build spec) and its schema, recorded on the row."""

import logging
import time

from django.conf import settings

from playground.bundles import BundleError, unpack
from playground.cogschema import CogSchema
from playground.models import BuildStatus, Version
from playground.worker.fleet import sandbox_config
from runner.build import BuildError, build

log = logging.getLogger(__name__)


class LiveLog(list):
    """A build's log lines, written to its row as they come (at most every FLUSH_SECONDS), so its owner
    can follow a long build: the model page's Builds and Explore's list of models on their way."""

    FLUSH_SECONDS = 2.0

    def __init__(self, version_pk: int) -> None:
        super().__init__()
        self.version_pk = version_pk
        self.flushed = time.monotonic()

    def __call__(self, line: str) -> None:
        self.append(line)
        if time.monotonic() - self.flushed >= self.FLUSH_SECONDS:
            self.flushed = time.monotonic()
            Version.objects.filter(pk=self.version_pk, build_status=BuildStatus.BUILDING).update(
                build_log="".join(self))


def build_version(version_pk: int) -> None:
    version = Version.objects.select_related("model").get(pk=version_pk)
    if version.build_status == BuildStatus.READY:
        return
    Version.objects.filter(pk=version_pk).update(build_status=BuildStatus.BUILDING)
    lines = LiveLog(version_pk)
    try:
        if version.base_id is None:
            unpack(version.bundle_path.read_bytes(), version.src_dir)  # afresh: a rebuild starts clean
        result = build(
            version.src_dir,
            settings.COGMILL_VENVS_DIR,
            log=lines,
            allow_root_steps=settings.COGMILL_ALLOW_ROOT_BUILD_STEPS,
            sandbox=sandbox_config(),
            timeout=settings.COGMILL_BUILD_TIMEOUT,
        )
    except (BuildError, BundleError) as exc:
        Version.objects.filter(pk=version_pk).update(
            build_status=BuildStatus.FAILED, build_error=str(exc), build_log=getattr(exc, "log", "") or "".join(lines)
        )
        return
    except Exception as exc:  # an unexpected failure must still leave a clear, final state
        log.exception("build of %s crashed", version)
        Version.objects.filter(pk=version_pk).update(
            build_status=BuildStatus.FAILED, build_error=f"internal build error: {exc}", build_log="".join(lines)
        )
        return
    schema = CogSchema(result.schema)
    error = None
    if unsafe := schema.unsafe_patterns():
        error = (f"input patterns that cannot be matched in linear time (no backreferences or lookarounds): "
                 f"{', '.join(unsafe)}")
    elif foreign := schema.foreign_refs():
        error = f"the schema refers to definitions outside itself, which Cogmill never fetches: {', '.join(foreign)}"
    if error:
        Version.objects.filter(pk=version_pk).update(
            build_status=BuildStatus.FAILED, build_error=error, build_log="".join(lines) + error + "\n"
        )
        return
    Version.objects.filter(pk=version_pk).update(
        build_status=BuildStatus.READY,
        build_log="".join(lines),
        spec_hash=result.spec_hash,
        cog_version=result.cog_version,
        openapi_schema=result.schema,
    )
