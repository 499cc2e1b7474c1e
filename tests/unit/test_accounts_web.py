"""Account pages and organization rules, in process: services, access (owner, teammate, outsider), CSRF."""

import pytest
from django.test import Client

from accounts import services
from accounts.models import ApiToken, Membership, User
from playground.errors import Forbidden, Invalid
from tests.unit.conftest import PASSWORD, client_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def team(alice, bob):
    """An organization with alice as admin and bob as a member."""
    org = services.create_organization(alice, "team")
    services.invite_member(org, alice, "bob")
    services.answer_invitation(bob, "team", accept=True)
    return org


# services


@pytest.mark.parametrize("name", ["Alice2", "-dash", "a b", "a.b", "x" * 40, "", "login", "orgs", "v1"])
def test_check_username_rejects_bad_and_reserved_names(name):
    with pytest.raises(Invalid):
        services.check_username(name)


def test_check_username_rejects_names_taken_by_users_and_organizations(alice, team):
    for name in ("alice", "team"):
        with pytest.raises(Invalid, match="taken"):
            services.check_username(name)
    services.check_username("new-name_2")


def test_create_organization_makes_an_org_account_with_its_creator_as_admin(alice):
    org = services.create_organization(alice, "acme")
    assert org.is_organization and not org.has_usable_password()
    assert Membership.objects.get(organization=org).member == alice
    assert Membership.objects.get(organization=org).role == "admin"
    assert list(alice.organizations()) == [org]


def test_organizations_cannot_create_organizations(team):
    with pytest.raises(Forbidden):
        services.create_organization(team, "sub")


def test_invite_needs_an_existing_person_not_yet_a_member(team, alice, mallory):
    with pytest.raises(Invalid, match="no person"):
        services.invite_member(team, alice, "nobody")
    other = services.create_organization(mallory, "other")
    with pytest.raises(Invalid, match="no person"):
        services.invite_member(team, alice, other.username)
    with pytest.raises(Invalid, match="already a member"):
        services.invite_member(team, alice, "bob")
    assert services.invite_member(team, alice, "mallory", "admin").role == "admin"


def test_only_admins_manage_members(team, bob, mallory):
    for action in (lambda: services.invite_member(team, bob, "mallory"),
                   lambda: services.change_role(team, bob, "bob", "admin"),
                   lambda: services.remove_member(team, bob, "alice")):
        with pytest.raises(Forbidden):
            action()


def test_an_organization_keeps_at_least_one_admin(team, alice):
    with pytest.raises(Invalid, match="at least one admin"):
        services.change_role(team, alice, "alice", "member")
    with pytest.raises(Invalid, match="at least one admin"):
        services.remove_member(team, alice, "alice")
    services.change_role(team, alice, "bob", "admin")
    services.change_role(team, alice, "alice", "member")
    assert Membership.objects.get(organization=team, member=alice).role == "member"


def test_change_role_rejects_unknown_roles(team, alice):
    with pytest.raises(Invalid):
        services.change_role(team, alice, "bob", "owner")


# pages


def test_signup_creates_a_person_and_logs_in():
    client = Client()
    response = client.post("/signup?next=/account", {"username": "newbie", "password1": PASSWORD,
                                                     "password2": PASSWORD})
    assert response.status_code == 302 and response["Location"] == "/account"
    user = User.objects.get(username="newbie")
    assert user.kind == "user"
    assert client.get("/account").status_code == 200


def test_signup_with_a_taken_name_keeps_the_form(alice):
    response = Client().post("/signup", {"username": "alice", "password1": PASSWORD, "password2": PASSWORD})
    assert response.status_code == 200
    assert "already taken" in response.content.decode()
    assert 'value="alice"' in response.content.decode()


def test_signup_refuses_off_site_next():
    response = Client().post("/signup?next=https://evil.example/", {
        "username": "newbie", "password1": PASSWORD, "password2": PASSWORD})
    assert response["Location"] == "/"


def test_organizations_cannot_log_in(team):
    team.set_password(PASSWORD)  # even given a password somehow
    team.save()
    response = Client().post("/login", {"username": "team", "password": PASSWORD})
    assert response.status_code == 200
    assert "Organizations can" in response.content.decode()


def test_login_redirects_to_next(bob):
    response = Client().post("/login?next=/account", {"username": "bob", "password": PASSWORD})
    assert response["Location"] == "/account"


def test_account_pages_need_login():
    for path in ("/account", "/account/password", "/orgs/new"):
        response = Client().get(path)
        assert response.status_code == 302 and response["Location"].startswith("/login?next=")


def test_new_token_is_shown_once(alice):
    client = client_for(alice)
    response = client.post("/account/tokens", {"name": "laptop"}, follow=True)
    token = ApiToken.objects.get(user=alice, name="laptop")
    page = response.content.decode()
    assert 'id="new-token"' in page and f"cm_{token.lookup}" in page
    assert 'id="new-token"' not in client.get("/account").content.decode()


def test_token_form_errors_in_place(alice):
    response = client_for(alice).post("/account/tokens", {"name": ""})
    assert response.status_code == 200
    assert "This field is required" in response.content.decode()


def test_revoke_someone_elses_token_is_404(alice, bob):
    token, _ = ApiToken.issue(bob)
    assert client_for(alice).post(f"/account/tokens/{token.pk}/revoke").status_code == 404
    assert ApiToken.objects.filter(pk=token.pk).exists()
    assert client_for(bob).post(f"/account/tokens/{token.pk}/revoke").status_code == 302
    assert not ApiToken.objects.filter(pk=token.pk).exists()


def test_account_shows_webhook_secret_and_organizations(alice, team):
    page = client_for(alice).get("/account").content.decode()
    assert alice.webhook_secret.key in page
    assert "/orgs/team" in page


def test_organization_page_is_for_members_only(team, alice, bob, mallory):
    assert client_for(alice).get("/orgs/team").status_code == 200
    member_page = client_for(bob).get("/orgs/team")
    assert member_page.status_code == 200 and "Add a member" not in member_page.content.decode()
    assert client_for(mallory).get("/orgs/team").status_code == 404
    assert client_for(alice).get("/orgs/alice").status_code == 404  # a person is not an organization


@pytest.mark.parametrize("path, data", [
    ("/orgs/team/members", {"username": "mallory", "role": "member"}),
    ("/orgs/team/members/bob/role", {"role": "admin"}),
    ("/orgs/team/members/bob/remove", {}),
])
def test_admin_actions(team, alice, bob, mallory, path, data):
    assert client_for(mallory).post(path, data).status_code == 404
    assert client_for(bob).post(path, data).status_code == 403
    assert client_for(alice).post(path, data).status_code == 302


def test_invite_unknown_username_is_a_field_error(team, alice):
    response = client_for(alice).post("/orgs/team/members", {"username": "ghost", "role": "member"})
    page = response.content.decode()
    assert response.status_code == 200
    assert "There is no person with the username" in page and 'value="ghost"' in page


def test_create_organization_page(alice):
    client = client_for(alice)
    response = client.post("/orgs/new", {"name": "alice"})
    assert "already taken" in response.content.decode()
    response = client.post("/orgs/new", {"name": "acme"})
    assert response["Location"] == "/orgs/acme"
    assert User.objects.get(username="acme").is_organization


def test_posts_need_a_csrf_token(alice, team):
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    for path in ("/account/tokens", "/orgs/new", "/orgs/team/members", "/logout"):
        assert client.post(path, {"name": "x", "username": "bob"}).status_code == 403
    assert not ApiToken.objects.filter(user=alice).exists()


def test_password_change(bob):
    client = client_for(bob)
    new = "another-pass-phrase-7"
    response = client.post("/account/password",
                           {"old_password": PASSWORD, "new_password1": new, "new_password2": new})
    assert response["Location"] == "/account"
    bob.refresh_from_db()
    assert bob.check_password(new)
