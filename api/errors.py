"""The API's half of the error table: each domain refusal is one problem+json status.

Anything not in the table and not raised by the API layer itself is a bug of ours: a 500 that is
logged, never a 400 that blames the caller.
"""

from api.problems import TITLES, problem, problem_for
from playground import errors

STATUS = {
    errors.BadRequest: 400,
    errors.Forbidden: 403,
    errors.NotFound: 404,
    errors.Conflict: 409,
    errors.Invalid: 422,
    errors.SpendLimitReached: 402,
    errors.TooManyRunning: 429,
}


def status_of(exc: errors.DomainError) -> int:
    for kind in type(exc).__mro__:
        if kind in STATUS:
            return STATUS[kind]
    raise TypeError(f"{type(exc).__name__} has no status in api.errors.STATUS")


def domain_problem(exc: errors.DomainError):
    status = status_of(exc)
    if isinstance(exc, errors.Invalid):
        return problem(status, "Input validation failed", str(exc), invalid_fields=[e.to_dict() for e in exc.errors])
    if isinstance(exc, errors.SpendLimitReached) and exc.limit is not None:
        return problem(status, "Monthly spend limit reached", str(exc), limit=f"{exc.limit:.2f}",
                       spend=f"{exc.spend:.2f}")
    response = problem_for(status, str(exc) or TITLES[status])
    if isinstance(exc, errors.TooManyRunning):
        response["Retry-After"] = str(exc.retry_after)
    return response
