"""Exceptions raised by the runner; none of them depend on Django."""

from __future__ import annotations


class BuildError(Exception):
    """A model bundle could not be turned into a runnable environment.

    ``str(err)`` is a one-line human message; ``log`` is the build log so far.
    """

    def __init__(self, message: str, log: str = "") -> None:
        super().__init__(message)
        self.log = log


class InstanceError(Exception):
    """A Cog server could not be brought up or kept up."""


class SetupFailed(InstanceError):
    """The predictor's ``setup()`` raised; ``logs`` holds what it printed and the error."""

    def __init__(self, logs: str, error: str = "") -> None:
        super().__init__(f"Model setup failed: {error}" if error else "Model setup failed")
        self.logs = logs


class InstanceDied(InstanceError):
    """The Cog server process exited (or became DEFUNCT) before it was ready."""

    def __init__(self, exit_code: int | None, output: str) -> None:
        state = "is defunct" if exit_code is None else f"exited with code {exit_code}"
        super().__init__(f"Model server {state}")
        self.exit_code = exit_code
        self.output = output


class BootTimeout(InstanceError):
    """The Cog server did not become ready before the deadline."""

    def __init__(self, seconds: float, output: str) -> None:
        super().__init__(f"Model server not ready after {seconds:.0f}s")
        self.output = output


class PoolTimeout(InstanceError, TimeoutError):
    """No instance slot became free before the acquire deadline."""


class NoDevice(InstanceError):
    """The model needs a GPU and this worker has none."""
