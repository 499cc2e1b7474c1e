"""The domain's refusals. Services raise only these; the API maps each to one problem+json status
(api/errors.py) and the pages to a message or a 404. Anything else that escapes is a bug of ours
and reaches users as a 500, never as their mistake."""

from dataclasses import dataclass


class DomainError(Exception):
    """A refusal a user can act on; the message says what to do."""


class NotFound(DomainError):
    """It does not exist, or the caller may not know that it does."""


class Forbidden(DomainError):
    """The caller may see it but not do this to it."""


class Conflict(DomainError):
    """Not now, in its current state (still building, still running, still in use)."""


class BadRequest(DomainError):
    """The request as a whole cannot be used: a malformed bundle or reference, a body over a limit."""


@dataclass
class FieldError:
    field: str
    message: str
    type: str

    def to_dict(self) -> dict:
        return {"field": self.field, "description": self.message, "type": self.type}


class Invalid(DomainError):
    """One or more named fields are wrong; each FieldError says which and why."""

    def __init__(self, errors: list[FieldError]):
        self.errors = errors
        super().__init__("; ".join(f"{e.field}: {e.message}" for e in errors))

    @classmethod
    def field(cls, name: str, message: str, type_: str = "invalid") -> "Invalid":
        return cls([FieldError(name, message, type_)])


class StorageFull(Forbidden):
    """Storing this would take the account past its quota of stored bytes."""


class TooManyRunning(DomainError):
    """The account has as many runs in progress as it may; one more fits once one ends."""

    def __init__(self, message: str, retry_after: int):
        super().__init__(message)
        self.retry_after = retry_after


class SpendLimitReached(DomainError):
    """The owner's (or token's) monthly hard limit would be passed by starting this work."""

    def __init__(self, message: str, limit=None, spend=None):
        super().__init__(message)
        self.limit = limit
        self.spend = spend
