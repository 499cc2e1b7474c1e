from ninja.security import HttpBearer

from accounts.models import ApiToken
from api import guards, ratelimit


class TokenAuth(HttpBearer):
    """`Authorization: Bearer <token>` (or the legacy `Token <token>`); sets request.owner.

    Every operation authenticates first, so the per-token checks that apply to the whole API
    (rate limit, read-only tokens, body size) run here rather than in each route.
    """

    def __call__(self, request):
        scheme, _, raw = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() not in {"bearer", "token"}:
            return None
        return self.authenticate(request, raw.strip())

    def authenticate(self, request, token: str):
        found = ApiToken.objects.authenticate(token)
        if found is None:
            return None
        found.touch()
        request.owner = found.user
        ratelimit.check(request, found)
        guards.check_writable(request, found)
        guards.check_body_size(request)
        return found
