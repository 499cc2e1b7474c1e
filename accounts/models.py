import base64
import functools
import hashlib
import hmac
import secrets
import string
from urllib.parse import quote

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils import timezone

from cogmill import sql

TOKEN_PREFIX = "cm_"
_ALPHABET = string.ascii_letters + string.digits
_LOOKUP_LEN = 8


class User(AbstractUser):
    """An account: a person, or an organization of people. The username is the owner namespace
    (`username/model-name`) either way; organizations have members and never log in."""

    class Kind(models.TextChoices):
        USER = "user"
        ORGANIZATION = "organization"

    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.USER)
    # How long the inputs, outputs and logs of its API runs are kept; None keeps them.
    data_retention = models.DurationField(null=True, blank=True)

    @property
    def is_organization(self) -> bool:
        return self.kind == self.Kind.ORGANIZATION

    def organizations(self) -> models.QuerySet:
        """The organizations this person is a member of (invitations they have not accepted aside)."""
        return User.objects.filter(memberships__member=self, memberships__accepted_at__isnull=False,
                                   kind=self.Kind.ORGANIZATION)

    def to_account_dict(self) -> dict:
        return {
            "type": self.kind,
            "username": self.username,
            "name": self.get_full_name() or self.username,
            "github_url": None,
            "avatar_url": f"{settings.PUBLIC_URL}/avatars/{quote(self.username)}.svg",
        }


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class ApiTokenQuerySet(models.QuerySet):
    def authenticate(self, raw: str) -> "ApiToken | None":
        """The token matching `raw` among all tokens (call it on `ApiToken.objects`), or None.
        Compared as hashes in constant time."""
        if self.query.where:
            raise TypeError("authenticate() looks among all tokens: call it on ApiToken.objects")
        if not raw.startswith(TOKEN_PREFIX) or len(raw) < len(TOKEN_PREFIX) + _LOOKUP_LEN:
            return None
        lookup = raw[len(TOKEN_PREFIX) : len(TOKEN_PREFIX) + _LOOKUP_LEN]
        digest = _hash(raw)
        for token in _with_user(lookup):
            if hmac.compare_digest(token.hashed, digest) and token.user.is_active:
                return token
        return None


@functools.cache
def _token_tables() -> tuple[sql.Table, sql.Table]:
    return sql.Table(ApiToken, "t"), sql.Table(User, "u")


def _with_user(lookup: str) -> list["ApiToken"]:
    """The tokens whose lookup prefix is `lookup`, each with its user: one statement on the cursor,
    as every API request asks (cogmill/sql.py)."""
    token, user = _token_tables()
    found = []
    for row in sql.fetch(f"SELECT {token.columns()}, {user.columns()} FROM {sql.quote(token.name)} t "
                         f"JOIN {sql.quote(user.name)} u ON u.id = t.user_id WHERE t.lookup = %s", [lookup]):
        t, u = token.instances(row, user)
        t.user = u
        found.append(t)
    return found


class ApiToken(models.Model):
    """An API token. Only its hash is stored; the raw value is shown once, at creation."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    lookup = models.CharField(max_length=_LOOKUP_LEN, db_index=True)
    hashed = models.CharField(max_length=64)
    read_only = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)

    objects = ApiTokenQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.user.username}: {self.name} ({TOKEN_PREFIX}{self.lookup}…)"

    @classmethod
    def issue(cls, user: User, name: str = "default", read_only: bool = False) -> tuple["ApiToken", str]:
        """Create a token; returns the row and the raw token (never stored)."""
        raw = TOKEN_PREFIX + "".join(secrets.choice(_ALPHABET) for _ in range(40))
        token = cls.objects.create(
            user=user,
            name=name,
            lookup=raw[len(TOKEN_PREFIX) : len(TOKEN_PREFIX) + _LOOKUP_LEN],
            hashed=_hash(raw),
            read_only=read_only,
        )
        return token, raw

    def touch(self) -> None:
        """Record use, at most once a minute to keep writes off the hot path."""
        now = timezone.now()
        if self.last_used_at is None or (now - self.last_used_at).total_seconds() > 60:
            ApiToken.objects.filter(pk=self.pk).update(last_used_at=now)
            self.last_used_at = now


class WebhookSecret(models.Model):
    """The owner's signing key for webhooks (Standard Webhooks: `whsec_` + base64 of 32 bytes)."""

    user = models.OneToOneField(User, on_delete=models.CASCADE, related_name="webhook_secret")
    key = models.CharField(max_length=100)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.user.username}: whsec_…"

    @classmethod
    def for_user(cls, user: User) -> "WebhookSecret":
        secret, _ = cls.objects.get_or_create(
            user=user, defaults={"key": "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()}
        )
        return secret

    def key_bytes(self) -> bytes:
        return base64.b64decode(self.key.removeprefix("whsec_"))


class MembershipQuerySet(models.QuerySet):
    def active(self) -> "MembershipQuerySet":
        """Memberships the person accepted (an invitation is not one yet)."""
        return self.filter(accepted_at__isnull=False)


class Membership(models.Model):
    """A person's place in an organization: an invitation until they accept it (`accepted_at`),
    which nobody can do for them, so no admin can make someone a member and read their runs."""

    class Role(models.TextChoices):
        ADMIN = "admin"
        MEMBER = "member"

    organization = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    member = models.ForeignKey(User, on_delete=models.CASCADE, related_name="member_of")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.MEMBER)
    created_at = models.DateTimeField(default=timezone.now)
    # When they accepted; None while it is an invitation. Their runs of the organization's models are
    # its members' to see only from then on (services.runs.can_view).
    accepted_at = models.DateTimeField(null=True, blank=True, default=timezone.now)

    objects = MembershipQuerySet.as_manager()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["organization", "member"], name="unique_membership")]
        ordering = ["created_at"]

    def __str__(self) -> str:
        return f"{self.member.username} in {self.organization.username} ({self.role})"
