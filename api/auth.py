from ninja.security import HttpBearer

from accounts.models import ApiToken


class TokenAuth(HttpBearer):
    """`Authorization: Bearer <token>` (or the legacy `Token <token>`); sets request.owner."""

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
        return found
