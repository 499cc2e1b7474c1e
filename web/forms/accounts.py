"""Forms of the account pages; the rules they check live in accounts.services."""

from django import forms
from django.contrib.auth.forms import AuthenticationForm, BaseUserCreationForm
from django.core.exceptions import ValidationError

from accounts import services
from accounts.models import Membership, User
from playground import durations
from playground.errors import Invalid

USERNAME_HELP = "Lowercase letters, digits, '-' and '_'. It is your namespace: username/model-name."


def _checked_username(value: str) -> str:
    name = value.strip()
    try:
        services.check_username(name)
    except Invalid as exc:
        raise ValidationError(exc.errors[0].message, code=exc.errors[0].type) from None
    return name


class SignupForm(BaseUserCreationForm):
    class Meta:
        model = User
        fields = ("username",)
        help_texts = {"username": USERNAME_HELP}

    def clean_username(self) -> str:
        return _checked_username(self.cleaned_data["username"])


class LoginForm(AuthenticationForm):
    def confirm_login_allowed(self, user: User) -> None:
        super().confirm_login_allowed(user)
        if user.is_organization:
            raise ValidationError("Organizations can't log in; log in as one of its members.",
                                  code="organization")


class TokenForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="To recognise it later, e.g. “laptop” or “ci”.")


class OrganizationForm(forms.Form):
    name = forms.CharField(
        max_length=39, help_text="Lowercase letters, digits, '-' and '_'. Its models live at name/model-name."
    )

    def clean_name(self) -> str:
        return _checked_username(self.cleaned_data["name"])


class InviteForm(forms.Form):
    username = forms.CharField(max_length=150, help_text="The username of an existing account.")
    role = forms.ChoiceField(choices=Membership.Role.choices, initial=Membership.Role.MEMBER)


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=Membership.Role.choices)


RETENTION_CHOICES = [("", "Keep forever"), ("1h", "1 hour, like Replicate"), ("24h", "1 day"), ("168h", "7 days"),
                     ("720h", "30 days")]


class RetentionForm(forms.Form):
    """How long the inputs, outputs and logs of one's API predictions are kept."""

    retention = forms.ChoiceField(choices=RETENTION_CHOICES, required=False, label="Keep API prediction data for")

    @classmethod
    def for_user(cls, user: User, data=None) -> "RetentionForm":
        current = durations.spell(user.data_retention) if user.data_retention else ""
        return cls(data, initial={"retention": current})

    def save(self, user: User) -> None:
        value = self.cleaned_data["retention"]
        user.data_retention = durations.parse(value) if value else None
        user.save(update_fields=["data_retention"])
