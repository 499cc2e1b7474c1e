"""Account rules: usernames (owner namespaces), organizations and their members."""

import re

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import Http404

from accounts.models import Membership, User

USERNAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,38}$")
# First path segments the site itself uses: an account with one of these names would have
# pages (`/<owner>/<model>`) hidden behind the site's own routes.
RESERVED_USERNAMES = frozenset({
    "account", "accounts", "admin", "api", "collections", "deployments", "explore", "galleries",
    "healthz", "history", "login", "logout", "models", "new", "orgs", "output", "predictions",
    "settings", "signup", "static", "trainings", "v1",
})


def check_username(name: str) -> None:
    """Raise ValidationError unless `name` can be a new owner namespace."""
    if not USERNAME_RE.match(name):
        raise ValidationError(
            "Use 1 to 39 lowercase letters, digits, '-' and '_', starting with a letter or digit.",
            code="invalid",
        )
    if name in RESERVED_USERNAMES or User.objects.filter(username__iexact=name).exists():
        raise ValidationError(f"“{name}” is already taken.", code="taken")


@transaction.atomic
def create_organization(creator: User, name: str) -> User:
    """A new organization account, with `creator` as its first admin."""
    if creator.is_organization:
        raise PermissionDenied("organizations cannot create organizations")
    check_username(name)
    org = User(username=name, kind=User.Kind.ORGANIZATION)
    org.set_unusable_password()
    org.save()
    Membership.objects.create(organization=org, member=creator, role=Membership.Role.ADMIN)
    return org


def organization_for(name: str, viewer: User) -> tuple[User, Membership]:
    """The organization and the viewer's membership in it; 404 for anyone outside it."""
    membership = (
        Membership.objects.select_related("organization")
        .filter(organization__username=name, organization__kind=User.Kind.ORGANIZATION, member=viewer)
        .first()
    )
    if membership is None:
        raise Http404("no such organization")
    return membership.organization, membership


def _require_admin(org: User, actor: User) -> None:
    if not Membership.objects.filter(organization=org, member=actor, role=Membership.Role.ADMIN).exists():
        raise PermissionDenied("only an organization's admins can manage its members")


def _check_role(role: str) -> None:
    if role not in Membership.Role.values:
        raise ValidationError(f"Choose one of: {', '.join(Membership.Role.values)}.", code="invalid_role")


@transaction.atomic
def invite_member(org: User, actor: User, username: str, role: str = Membership.Role.MEMBER) -> Membership:
    """Add an existing person to the organization. Raises ValidationError for the username/role."""
    _require_admin(org, actor)
    _check_role(role)
    person = User.objects.filter(username=username, kind=User.Kind.USER, is_active=True).first()
    if person is None:
        raise ValidationError(f"There is no person with the username “{username}”.", code="unknown")
    if Membership.objects.filter(organization=org, member=person).exists():
        raise ValidationError(f"{username} is already a member of {org.username}.", code="member")
    return Membership.objects.create(organization=org, member=person, role=role)


def _membership(org: User, username: str) -> Membership:
    membership = Membership.objects.filter(organization=org, member__username=username).first()
    if membership is None:
        raise Http404("no such member")
    return membership


def _check_keeps_an_admin(membership: Membership) -> None:
    admins = Membership.objects.filter(organization=membership.organization, role=Membership.Role.ADMIN)
    if membership.role == Membership.Role.ADMIN and admins.count() == 1:
        raise ValidationError("An organization needs at least one admin.", code="last_admin")


@transaction.atomic
def change_role(org: User, actor: User, username: str, role: str) -> Membership:
    _require_admin(org, actor)
    _check_role(role)
    membership = _membership(org, username)
    if role != membership.role:
        _check_keeps_an_admin(membership)
        membership.role = role
        membership.save(update_fields=["role"])
    return membership


@transaction.atomic
def remove_member(org: User, actor: User, username: str) -> None:
    _require_admin(org, actor)
    membership = _membership(org, username)
    _check_keeps_an_admin(membership)
    membership.delete()
