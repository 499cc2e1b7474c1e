"""Cog source bundles: a gzipped tarball of a model folder, checked (in the request, writing
nothing) and unpacked (in the build, on a worker) safely, within caps on files and bytes."""

import hashlib
import io
import shutil
import tarfile
import zlib
from pathlib import Path, PurePosixPath

from django.conf import settings

from playground.errors import BadRequest

RATIO_FLOOR = 1024 * 1024


class BundleError(BadRequest):
    """The upload is not a usable Cog bundle; the message says why."""


def bundle_id(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def pack_dir(src: Path) -> bytes:
    """Tar a model folder the way `push_model` and the API clients upload it (stable bytes)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz", format=tarfile.PAX_FORMAT) as tar:
        for path in sorted(src.rglob("*")):
            rel = path.relative_to(src)
            if _ignored(rel):
                continue
            info = tar.gettarinfo(str(path), arcname=str(rel))
            info.mtime = 0
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            if path.is_file() and not path.is_symlink():
                with path.open("rb") as fh:
                    tar.addfile(info, fh)
            else:
                tar.addfile(info)
    return _gzip_without_timestamp(buf.getvalue())


def _gzip_without_timestamp(data: bytes) -> bytes:
    # gzip stores a timestamp at bytes 4..8; zero it so the same folder hashes the same.
    return data[:4] + b"\0\0\0\0" + data[8:]


def _ignored(rel: Path) -> bool:
    parts = rel.parts
    return any(p in {".git", "__pycache__", ".cog", ".venv"} for p in parts) or rel.suffix == ".pyc"


class _Capped(io.RawIOBase):
    """The bundle's tar stream, decompressed as it is read, refused past `limit` bytes: a gzip bomb
    costs at most that much work, never the whole of what it would expand to."""

    def __init__(self, data: bytes, limit: int) -> None:
        self.limit, self.total = limit, 0
        gzipped = data[:2] == b"\x1f\x8b"
        self._inflate = zlib.decompressobj(wbits=31) if gzipped else None
        self._raw = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        want = len(buffer)
        if self._inflate is None:
            chunk = self._raw.read(want)
        else:
            chunk = b""
            try:
                while not chunk and not self._inflate.eof:
                    source = self._inflate.unconsumed_tail or self._raw.read(65536)
                    if not source:
                        break  # cut short: tarfile reports the missing end
                    chunk = self._inflate.decompress(source, want)  # never more than asked for
            except zlib.error as exc:
                raise BundleError(f"not a tar archive: {exc}") from None
        n = len(chunk)
        buffer[:n] = chunk
        self.total += n
        if self.total > self.limit:
            raise BundleError(f"bundle expands to more than {self.limit} bytes")
        return n


def _open(data: bytes) -> tarfile.TarFile:
    # The ratio binds only past a floor: a tiny bundle's tar padding alone is 10 KiB.
    by_ratio = max(settings.COGMILL_MAX_BUNDLE_RATIO * len(data), RATIO_FLOOR)
    limit = min(settings.COGMILL_MAX_BUNDLE_EXPANDED_BYTES, by_ratio)
    try:
        return tarfile.open(fileobj=_Capped(data, limit), mode="r|")
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise BundleError(f"not a tar archive: {exc}") from exc


def _members(data: bytes) -> list[tarfile.TarInfo]:
    """Every member's header (nothing written), checked: safe paths, files and folders only, at most
    COGMILL_MAX_BUNDLE_FILES of them and COGMILL_MAX_BUNDLE_EXPANDED_BYTES (or
    COGMILL_MAX_BUNDLE_RATIO times the bundle) in all."""
    members = []
    try:
        with _open(data) as tar:
            for m in tar:
                path = PurePosixPath(m.name)
                if path.is_absolute() or ".." in path.parts:
                    raise BundleError(f"unsafe path in bundle: {m.name}")
                if not (m.isfile() or m.isdir()):
                    raise BundleError(f"bundle may hold only files and folders, not {m.name}")
                members.append(m)
                if len(members) > settings.COGMILL_MAX_BUNDLE_FILES:
                    raise BundleError(f"bundle holds more than {settings.COGMILL_MAX_BUNDLE_FILES} files")
    except (tarfile.TarError, EOFError) as exc:
        raise BundleError(f"not a tar archive: {exc}") from exc
    return members


def check(data: bytes) -> None:
    """Whether `data` is a usable bundle, read without writing anything: BundleError says why not."""
    _root_prefix([m.name for m in _members(data)])


def _root_prefix(names: list[str]) -> str:
    """'' if cog.yaml is at the top, or the single folder that holds it."""
    norm = [PurePosixPath(n) for n in names]
    if PurePosixPath("cog.yaml") in norm:
        return ""
    tops = {p.parts[0] for p in norm if p.parts}
    if len(tops) == 1:
        top = tops.pop()
        if PurePosixPath(top, "cog.yaml") in norm:
            return top + "/"
    raise BundleError("cog.yaml not found at the top of the bundle")


def unpack(data: bytes, dest: Path) -> None:
    """Check and extract a bundle into `dest` (replaced if present), within the same caps."""
    prefix = _root_prefix([m.name for m in _members(data)])
    tmp = dest.with_name(dest.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        with _open(data) as tar:
            for m in tar:
                if not m.name.startswith(prefix) or m.name == prefix.rstrip("/"):
                    continue
                m.name = m.name[len(prefix):]
                if m.name:
                    tar.extract(m, tmp, filter="data")
    except (tarfile.TarError, EOFError, OSError) as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise BundleError(f"bundle could not be unpacked: {exc}") from exc
    shutil.rmtree(dest, ignore_errors=True)
    tmp.rename(dest)
