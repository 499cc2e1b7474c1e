"""Sign up, log in, account pages, organizations."""

from django.contrib.auth import views as auth_views
from django.urls import path

from accounts import web
from accounts.forms import LoginForm

urlpatterns = [
    path("signup", web.signup, name="signup"),
    path("login", auth_views.LoginView.as_view(
        template_name="accounts/login.html", authentication_form=LoginForm, redirect_authenticated_user=True,
    ), name="login"),
    path("logout", auth_views.LogoutView.as_view(), name="logout"),
    path("account", web.account, name="account"),
    path("account/password", web.PasswordChange.as_view(), name="password-change"),
    path("account/tokens", web.create_token, name="token-create"),
    path("account/tokens/<int:token_id>/revoke", web.revoke_token, name="token-revoke"),
    path("orgs/new", web.new_organization, name="organization-new"),
    path("orgs/<str:name>", web.organization, name="organization"),
    path("orgs/<str:name>/members", web.invite, name="organization-invite"),
    path("orgs/<str:name>/members/<str:username>/role", web.change_role, name="organization-role"),
    path("orgs/<str:name>/members/<str:username>/remove", web.remove_member, name="organization-remove"),
]
