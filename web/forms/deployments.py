"""The deployment form: what a deployment runs (model, version), on which hardware and with how many
instances. It only turns posted strings into values; the rules (names, who may own it, which versions
may run, the instance limits) are the deployments service's, and its refusals land on these fields
under the same names (`add_domain_errors`)."""

from django import forms
from django.conf import settings
from django.utils import dateformat, timezone

from playground.errors import FieldError, NotFound
from playground.models import Deployment, Hardware, Model
from playground.services import catalog, deployments
from web import presenters

LATEST = ""
VERSIONS_LISTED = 50
MODELS_LISTED = 200


def _count_widget(low: int) -> forms.NumberInput:
    return forms.NumberInput(attrs={"min": low, "max": settings.COGMILL_DEPLOYMENT_MAX_INSTANCES, "step": 1,
                                    "inputmode": "numeric"})


class DeploymentForm(forms.Form):
    """Creating a deployment (all fields), or changing one (`deployment`: no owner and no name; the
    fields start at its current release, and a save is its next release)."""

    owner = forms.ChoiceField(help_text="You, or an organization you administer.")
    name = forms.CharField(max_length=100, help_text="Lowercase letters, digits, '.', '_' and '-'.",
                           widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}))
    model = forms.CharField(max_length=201, help_text="owner/name of a model you can run.",
                            widget=forms.TextInput(attrs={"list": "model-options", "placeholder": "owner/name",
                                                          "autocomplete": "off", "spellcheck": "false"}))
    version = forms.ChoiceField(required=False, help_text="Latest: the model's newest ready version when you save.")
    hardware = forms.ChoiceField()
    min_instances = forms.IntegerField(label="Min instances", widget=_count_widget(0),
                                       help_text="Kept warm, however idle: no cold starts up to this many.")
    max_instances = forms.IntegerField(label="Max instances", widget=_count_widget(1),
                                       help_text="It scales up to this many while requests wait.")

    def __init__(self, user, *args, deployment: Deployment | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user
        self.deployment = deployment
        if deployment is not None:
            del self.fields["owner"], self.fields["name"]
            release = deployment.current_release
            self.initial = {"model": release.version.model.full_name, "version": release.version.version_id,
                            "hardware": release.hardware.sku, "min_instances": release.min_instances,
                            "max_instances": release.max_instances, **self.initial}
        else:
            owners = [o.username for o in deployments.owners_for(user)]
            self.fields["owner"].choices = [(o, o) for o in owners]
            self.initial = {"owner": user.username, "hardware": "cpu", "min_instances": 0, "max_instances": 1,
                            **self.initial}
        self.hardware = list(Hardware.objects.all())
        self.fields["hardware"].choices = presenters.hardware_choices()
        self.fields["version"].choices = self._version_choices()

    # ------------------------------------------------------------ what the fields offer

    def _raw(self, name: str):
        """The field's value as typed (posted data when bound, else its initial value)."""
        return self[name].value()

    def _version_choices(self) -> list[tuple[str, str]]:
        """Latest, then the ready versions of the model in the model field (none if it is not one the
        user can see); a deployment's current version stays offered even when it is no longer listed."""
        model = self.chosen_model()
        if model is None:
            return [(LATEST, "Latest")]
        versions = list(catalog.listed_versions(model)[:VERSIONS_LISTED])
        current = self.deployment.current_release.version if self.deployment else None
        if current is not None and current.model_id == model.pk and current not in versions:
            versions.append(current)
        latest = versions[0].version_id[:12] if versions else "none ready"
        return [(LATEST, f"Latest ({latest})"),
                *[(v.version_id, f"{v.version_id[:12]} · {_when(v.created_at)}") for v in versions]]

    def chosen_model(self) -> Model | None:
        ref = str(self._raw("model") or "").strip()
        if ref.count("/") != 1:
            return None
        try:
            return catalog.get_model(self.user, ref)
        except NotFound:
            return None

    def model_options(self) -> list[str]:
        """Models the user can see, for the model field's suggestions."""
        visible = Model.objects.visible_to(self.user).select_related("owner").order_by("owner__username", "name")
        return [m.full_name for m in visible[:MODELS_LISTED]]

    def estimate_inputs(self) -> tuple[Hardware | None, int | None, int | None]:
        """The hardware and instance counts as typed, for the cost estimate (None: not usable yet)."""
        sku = self._raw("hardware")
        hardware = next((hw for hw in self.hardware if hw.sku == sku), None)
        return hardware, _count(self._raw("min_instances")), _count(self._raw("max_instances"))

    # ------------------------------------------------------------ what the service gets

    def clean_model(self) -> str:
        return self.cleaned_data["model"].strip()

    def clean_name(self) -> str:
        return self.cleaned_data["name"].strip()

    def create_arguments(self) -> dict:
        data = self.cleaned_data
        return {"name": data["name"], "model": data["model"], "version": data["version"] or None,
                "hardware": data["hardware"], "min_instances": data["min_instances"],
                "max_instances": data["max_instances"], "owner": data["owner"]}

    def changes_anything(self) -> bool:
        """Whether saving would make a release different from the current one."""
        current = self.deployment.current_release
        changes = self.changes()
        return "model" in changes or any(
            changes[key] != value for key, value in (("hardware", current.hardware.sku),
                                                     ("min_instances", current.min_instances),
                                                     ("max_instances", current.max_instances)))

    def changes(self) -> dict:
        """The update: every setting, but the model and version only when either differs from the
        current release (so a hidden current version can stay)."""
        data = self.cleaned_data
        current = self.deployment.current_release.version
        changes = {"hardware": data["hardware"], "min_instances": data["min_instances"],
                   "max_instances": data["max_instances"]}
        if data["model"] != current.model.full_name or data["version"] != current.version_id:
            changes.update(model=data["model"], version=data["version"] or None)
        return changes

    def add_domain_errors(self, errors: list[FieldError]) -> None:
        """The service's field errors beside their fields; any other above the form."""
        for error in errors:
            self.add_error(error.field if error.field in self.fields else None, _sentence(error.message))


def _count(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _when(moment) -> str:
    return dateformat.format(timezone.localtime(moment), "M j, Y H:i")


def _sentence(message: str) -> str:
    """A service message as a form shows it: fields by their labels, a capital first letter."""
    for name in ("min_instances", "max_instances"):
        message = message.replace(name, name.replace("_", " "))
    return message[:1].upper() + message[1:]
