"""What a command that fails says, and the exit code a script can tell it by."""

from __future__ import annotations

USAGE, AUTH, NOT_FOUND, MODEL_FAILED, NETWORK = 2, 3, 4, 5, 6
INTERRUPTED = 130  # what a shell expects of a command stopped by Ctrl-C


class CliError(Exception):
    """A failure told plainly, with its exit code: 1 for anything not listed above."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


def for_status(status: int) -> int:
    """The exit code of an API answer's status."""
    if status in (400, 422):
        return USAGE
    if status in (401, 403):
        return AUTH
    if status == 404:
        return NOT_FOUND
    return 1
