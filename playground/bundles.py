"""Cog source bundles: a gzipped tarball of a model folder, checked and unpacked safely."""

import hashlib
import io
import shutil
import tarfile
from pathlib import Path, PurePosixPath

from playground.errors import BadRequest


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


def _members(tar: tarfile.TarFile) -> list[tarfile.TarInfo]:
    members = []
    for m in tar.getmembers():
        path = PurePosixPath(m.name)
        if path.is_absolute() or ".." in path.parts:
            raise BundleError(f"unsafe path in bundle: {m.name}")
        if not (m.isfile() or m.isdir()):
            raise BundleError(f"bundle may hold only files and folders, not {m.name}")
        members.append(m)
    return members


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
    """Check and extract a bundle into `dest` (replaced if present)."""
    try:
        tar = tarfile.open(fileobj=io.BytesIO(data), mode="r:*")
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise BundleError(f"not a tar archive: {exc}") from exc
    with tar:
        members = _members(tar)
        prefix = _root_prefix([m.name for m in members])
        tmp = dest.with_name(dest.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        for m in members:
            if not m.name.startswith(prefix) or m.name == prefix.rstrip("/"):
                continue
            m.name = m.name[len(prefix):]
            if m.name:
                tar.extract(m, tmp, filter="data")
    shutil.rmtree(dest, ignore_errors=True)
    tmp.rename(dest)
