"""Browser pages of accounts: sign up, the account page (API tokens, webhook secret), organizations,
and every account's avatar."""

import hashlib
from html import escape

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse, reverse_lazy
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_GET, require_POST

from accounts import services
from accounts.models import ApiToken, Membership, User, WebhookSecret
from playground.errors import Invalid
from web.forms.accounts import (
    InviteForm,
    LoginForm,
    OrganizationForm,
    RetentionForm,
    RoleForm,
    SignupForm,
    TokenForm,
)
from web.redirects import safe_next
from web.throttle import refusal

NEW_TOKEN_SESSION_KEY = "accounts.new_token"


def _next_url(request: HttpRequest) -> str:
    return safe_next(request, request.POST.get("next") or request.GET.get("next"), "/")


class Login(auth_views.LoginView):
    """Django's log-in, throttled per client and per account name (web/throttle.py)."""

    template_name = "accounts/login.html"
    authentication_form = LoginForm
    redirect_authenticated_user = True

    def post(self, request, *args, **kwargs):
        limited = refusal(request, "login", settings.COGMILL_RATE_LIMIT_LOGINS_PER_MINUTE,
                          request.POST.get("username", ""))
        if limited is None:
            return super().post(request, *args, **kwargs)
        form = self.get_form()
        form.errors.clear()
        form.add_error(None, limited[0])
        return _too_many(self.render_to_response(self.get_context_data(form=form)), limited[1])


def _too_many(response: HttpResponse, seconds: int) -> HttpResponse:
    response.status_code = 429
    response["Retry-After"] = str(seconds)
    return response


def signup(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect(_next_url(request))
    form = SignupForm(request.POST or None)
    if request.method == "POST" and (limited := refusal(request, "signup",
                                                          settings.COGMILL_RATE_LIMIT_SIGNUPS_PER_MINUTE)):
        form = SignupForm(request.POST)
        form.is_valid()
        form.add_error(None, limited[0])
        page = render(request, "accounts/signup.html", {"form": form, "next": _next_url(request)})
        return _too_many(page, limited[1])
    if request.method == "POST" and form.is_valid():
        user = form.save()
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        messages.success(request, f"Welcome to Cogmill, {user.username}.")
        return redirect(_next_url(request))
    return render(request, "accounts/signup.html", {"form": form, "next": _next_url(request)})


AVATAR = """<svg xmlns="http://www.w3.org/2000/svg" width="96" height="96" viewBox="0 0 96 96">\
<rect width="96" height="96" rx="48" fill="hsl({hue},55%,42%)"/>\
<text x="48" y="50" dy=".35em" text-anchor="middle" font-family="system-ui,sans-serif" font-size="44" \
fill="#fff">{initial}</text></svg>"""


@require_GET
@cache_control(public=True, max_age=86400)
def avatar(request: HttpRequest, username: str) -> HttpResponse:
    """`avatar_url` of an account: its initial on a colour of its own, drawn here (no uploads)."""
    user = get_object_or_404(User, username=username, is_active=True)
    hue = int.from_bytes(hashlib.sha256(user.username.encode()).digest()[:2]) % 360
    response = HttpResponse(AVATAR.format(hue=hue, initial=escape(user.username[:1].upper())),
                            content_type="image/svg+xml")
    response["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'; sandbox"
    response["X-Content-Type-Options"] = "nosniff"
    return response


def _account_context(request: HttpRequest, token_form: TokenForm, retention_form: RetentionForm | None = None) -> dict:
    user = request.user
    return {
        "nav": "account",
        "tokens": user.api_tokens.all(),
        "token_form": token_form,
        "retention_form": retention_form or RetentionForm.for_user(user),
        # The raw token exists only in this one response after creation (popped from the session).
        "new_token": request.session.pop(NEW_TOKEN_SESSION_KEY, None),
        "webhook_secret": WebhookSecret.for_user(user).key,
        "memberships": user.member_of.active().select_related("organization").order_by("organization__username"),
        "invitations": services.invitations(user).order_by("organization__username"),
    }


@login_required
def account(request: HttpRequest) -> HttpResponse:
    return render(request, "accounts/account.html", _account_context(request, TokenForm()))


@login_required
@require_POST
def change_retention(request: HttpRequest) -> HttpResponse:
    form = RetentionForm(request.POST)
    if not form.is_valid():
        return render(request, "accounts/account.html", _account_context(request, TokenForm(), form), status=400)
    form.save(request.user)
    messages.success(request, "Data retention saved.")
    return redirect(f"{reverse('account')}#retention")


@login_required
@require_POST
def create_token(request: HttpRequest) -> HttpResponse:
    form = TokenForm(request.POST)
    if not form.is_valid():
        return render(request, "accounts/account.html", _account_context(request, form))
    token, raw = ApiToken.issue(request.user, name=form.cleaned_data["name"])
    request.session[NEW_TOKEN_SESSION_KEY] = {"id": token.pk, "name": token.name, "raw": raw}
    return redirect("account")


@login_required
@require_POST
def revoke_token(request: HttpRequest, token_id: int) -> HttpResponse:
    token = get_object_or_404(ApiToken, pk=token_id, user=request.user)
    token.delete()
    messages.success(request, f"Token “{token.name}” revoked; it no longer works.")
    return redirect("account")


@login_required
def new_organization(request: HttpRequest) -> HttpResponse:
    form = OrganizationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        org = services.create_organization(request.user, form.cleaned_data["name"])
        messages.success(request, f"Organization {org.username} created. Invite your team.")
        return redirect("organization", name=org.username)
    return render(request, "accounts/org_new.html", {"nav": "account", "form": form})


def _organization_page(request: HttpRequest, org: User, membership: Membership,
                       invite_form: InviteForm | None = None) -> HttpResponse:
    members = org.memberships.select_related("member").order_by("member__username")
    context = {
        "nav": "account",
        "org": org,
        "is_admin": membership.role == Membership.Role.ADMIN,
        "members": members,
        "roles": Membership.Role.choices,
        "invite_form": invite_form or InviteForm(),
    }
    return render(request, "accounts/org.html", context)


@login_required
def organization(request: HttpRequest, name: str) -> HttpResponse:
    org, membership = services.organization_for(name, request.user)
    return _organization_page(request, org, membership)


@login_required
@require_POST
def invite(request: HttpRequest, name: str) -> HttpResponse:
    org, membership = services.organization_for(name, request.user)
    form = InviteForm(request.POST)
    if form.is_valid():
        try:
            added = services.invite_member(org, request.user, form.cleaned_data["username"],
                                           form.cleaned_data["role"])
        except Invalid as error:
            form.add_error("username", error.errors[0].message)
        else:
            messages.success(request, f"{added.member.username} is invited to {org.username} as {added.role}: "
                                      "they join when they accept.")
            return redirect("organization", name=org.username)
    return _organization_page(request, org, membership, invite_form=form)


@login_required
@require_POST
def change_role(request: HttpRequest, name: str, username: str) -> HttpResponse:
    org, _ = services.organization_for(name, request.user)
    form = RoleForm(request.POST)
    try:
        if not form.is_valid():
            raise Invalid.field("role", "Choose a role.")
        services.change_role(org, request.user, username, form.cleaned_data["role"])
    except Invalid as error:
        messages.error(request, " ".join(e.message for e in error.errors))
    else:
        messages.success(request, f"{username} is now {form.cleaned_data['role']}.")
    return redirect("organization", name=org.username)


@login_required
@require_POST
def remove_member(request: HttpRequest, name: str, username: str) -> HttpResponse:
    org, _ = services.organization_for(name, request.user)
    try:
        services.remove_member(org, request.user, username)
    except Invalid as error:
        messages.error(request, " ".join(e.message for e in error.errors))
        return redirect("organization", name=org.username)
    messages.success(request, f"{username} was removed from {org.username}.")
    if username == request.user.username:
        return redirect("account")
    return redirect("organization", name=org.username)


class PasswordChange(auth_views.PasswordChangeView):
    template_name = "accounts/password.html"
    success_url = reverse_lazy("account")
    extra_context = {"nav": "account"}

    def form_valid(self, form):
        messages.success(self.request, "Your password was changed.")
        return super().form_valid(form)


@login_required
@require_POST
def answer_invitation(request: HttpRequest, name: str) -> HttpResponse:
    """Join an organization that invited you, or decline: nobody else can do either for you."""
    accept = request.POST.get("answer") == "accept"
    services.answer_invitation(request.user, name, accept)
    if accept:
        messages.success(request, f"You joined {name}.")
        return redirect("organization", name=name)
    messages.success(request, f"You declined the invitation to {name}.")
    return redirect("account")
