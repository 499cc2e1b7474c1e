"""Zip archives given to a training, checked before the training starts.

A zip is read where it lies and never unpacked by Cogmill; the model opens it in its own folder.
What no model should be handed is refused here with the reason: not a zip at all, a corrupt one,
too many members, a member that would land outside the folder it is unpacked into (an absolute
path, `..`, a drive letter), a symlink, or one that expands far beyond its size (a zip bomb).
"""

import stat
import zipfile
from pathlib import PurePosixPath, PureWindowsPath
from typing import BinaryIO

from django.conf import settings

MAX_MEMBERS = 10_000
MAX_RATIO = 200  # uncompressed size per byte compressed, per member and overall


class ZipRefused(ValueError):
    """Why this zip is not handed to a model."""


def looks_like_zip(name: str, handle: BinaryIO) -> bool:
    """Whether a file is meant to be a zip, or would be read as one: by its name, or by the zip
    directory that zipfile (as a model would use it) finds anywhere in it."""
    found = zipfile.is_zipfile(handle)
    handle.seek(0)
    return found or name.lower().endswith(".zip")


def check_zip(handle: BinaryIO, size: int) -> None:
    """Refuse (ZipRefused) a zip that is unsafe or unreadable; read only its directory and CRCs."""
    if size > settings.COGMILL_MAX_UPLOAD_BYTES:
        raise ZipRefused(f"the zip is {size} bytes; the limit is {settings.COGMILL_MAX_UPLOAD_BYTES} bytes")
    if not zipfile.is_zipfile(handle):
        raise ZipRefused("it is named .zip but is not a zip file")
    handle.seek(0)
    try:
        archive = zipfile.ZipFile(handle)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise ZipRefused(f"the zip is corrupt: {exc}") from None
    with archive:
        members = archive.infolist()
        if len(members) > MAX_MEMBERS:
            raise ZipRefused(f"the zip has {len(members)} members; at most {MAX_MEMBERS} are allowed")
        total = 0
        for member in members:
            _check_member(member)
            total += member.file_size
        limit = settings.COGMILL_MAX_ZIP_EXPANDED_BYTES
        if total > limit:
            raise ZipRefused(f"the zip expands to {total} bytes; at most {limit} are allowed")
        if total > MAX_RATIO * max(size, 1):
            raise ZipRefused(f"the zip expands {total // max(size, 1)} times its size (a zip bomb?); "
                             f"at most {MAX_RATIO} times is allowed")
        try:
            broken = archive.testzip()
        except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError) as exc:
            raise ZipRefused(f"the zip is corrupt: {exc}") from None
        if broken is not None:
            raise ZipRefused(f"the zip is corrupt: {broken} does not match its checksum")


def _check_member(member: zipfile.ZipInfo) -> None:
    name = member.filename
    if "\x00" in name:
        raise ZipRefused(f"{name!r} is not a file name")
    posix, windows = PurePosixPath(name.replace("\\", "/")), PureWindowsPath(name)
    if posix.is_absolute() or windows.drive or windows.root:
        raise ZipRefused(f"{name} has an absolute path: members must stay inside the folder they are unpacked into")
    if ".." in posix.parts:
        raise ZipRefused(f"{name} climbs out of its folder with '..': members must stay inside it")
    if stat.S_ISLNK(member.external_attr >> 16):
        raise ZipRefused(f"{name} is a symbolic link: only files and folders are allowed")
    if member.compress_size and member.file_size > MAX_RATIO * member.compress_size:
        raise ZipRefused(f"{name} expands {member.file_size // member.compress_size} times its size "
                         f"(a zip bomb?); at most {MAX_RATIO} times is allowed")
