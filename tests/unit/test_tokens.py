import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from accounts.models import ApiToken, User

pytestmark = pytest.mark.django_db


def test_token_is_stored_as_a_hash_and_authenticates():
    user = User.objects.create_user("alice")
    token, raw = ApiToken.issue(user, name="laptop")
    assert raw.startswith("cm_") and len(raw) == 43
    assert raw not in token.hashed and token.hashed != raw
    assert ApiToken.objects.authenticate(raw) == token


@pytest.mark.parametrize("raw", ["", "cm_", "cm_short", "r8_abcdefghijklmnopqrstuvwxyz", "cm_" + "x" * 40])
def test_wrong_tokens_do_not_authenticate(raw):
    user = User.objects.create_user("alice")
    ApiToken.issue(user)
    assert ApiToken.objects.authenticate(raw) is None


def test_token_with_right_prefix_but_wrong_rest_is_refused():
    user = User.objects.create_user("alice")
    _, raw = ApiToken.issue(user)
    assert ApiToken.objects.authenticate(raw[:-1] + ("A" if raw[-1] != "A" else "B")) is None


def test_inactive_users_token_is_refused():
    user = User.objects.create_user("alice")
    _, raw = ApiToken.issue(user)
    user.is_active = False
    user.save()
    assert ApiToken.objects.authenticate(raw) is None


def test_touch_records_last_use():
    user = User.objects.create_user("alice")
    token, _ = ApiToken.issue(user)
    token.touch()
    token.refresh_from_db()
    assert token.last_used_at is not None


def test_issue_token_prints_only_the_token():
    out = io.StringIO()
    call_command("issue_token", "bob", "--create-user", stdout=out)
    raw = out.getvalue().strip()
    assert "\n" not in raw
    assert ApiToken.objects.authenticate(raw).user.username == "bob"


def test_issue_token_for_missing_user_without_flag_fails():
    with pytest.raises(CommandError, match="--create-user"):
        call_command("issue_token", "nobody", stdout=io.StringIO())
