"""The model's Settings tab, for its owner: what the model page and Explore say about it (description,
cover, links, README), who sees it, what it runs on, and which of the owner's runs are its examples.
The forms only turn posted strings into values; the rules are the catalogue's (`catalog.update_model`),
and its refusals land on these fields under the same names."""

from django import forms
from django.conf import settings
from django.core.validators import URLValidator

from playground.errors import FieldError
from playground.models import Model, Prediction, Visibility
from web import presenters

VISIBILITY_HELP = {
    Visibility.PUBLIC: "Anyone can see it, run it and read its README, signed in or not. Each person's runs stay "
                       "their own.",
    Visibility.PRIVATE: "Only you (and your organization's members, for an organization's model) can see or run it. "
                        "A model pushed through the API starts private.",
}


class WebURLField(forms.URLField):
    """An http(s) URL, as the catalogue keeps them (not ftp:, not javascript:); one on this site counts
    whatever its host is called (`http://cogmill:8000/...` has no top-level domain)."""

    default_validators = []

    def __init__(self, label: str, **kwargs):
        super().__init__(required=False, label=label, assume_scheme="https", **kwargs)

    def validate(self, value):
        super().validate(value)
        if value and not value.startswith(settings.PUBLIC_URL + "/"):
            URLValidator(schemes=["http", "https"])(value)


class ModelDetailsForm(forms.Form):
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}),
                                  help_text="One or two sentences: shown under its name here and on Explore.")
    visibility = forms.ChoiceField(choices=[(v, v.label) for v in Visibility], widget=forms.RadioSelect)
    hardware = forms.ChoiceField(help_text="What its runs are placed on, and priced at.")
    cover_image_url = WebURLField("Cover image URL",
                                  help_text="An image for its card on Explore; or pick one of your runs' images.")
    cover_pick = forms.ChoiceField(required=False, widget=forms.RadioSelect, label="Or an image from your runs")
    github_url = WebURLField("GitHub URL")
    paper_url = WebURLField("Paper URL")
    license_url = WebURLField("License URL")
    readme = forms.CharField(required=False, label="README", widget=forms.Textarea(attrs={"rows": 12}),
                             help_text="Markdown. Leave it empty to show the README.md of its latest version.")

    def __init__(self, model: Model, covers: list[dict], *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.model = model
        self.covers = covers
        self.fields["hardware"].choices = presenters.hardware_choices()
        if not model.hardware_id:  # none chosen (its hardware was deleted): say so rather than show the first
            self.fields["hardware"].choices.insert(0, ("", "Not set: choose one"))
        self.fields["cover_pick"].choices = [("", "None of these")] + [(c["value"], c["name"]) for c in covers]
        if not self.initial:  # what it is now: shown unbound, and what changed_data compares a post with
            self.initial = {"description": model.description, "visibility": model.visibility,
                            "hardware": model.hardware.sku if model.hardware_id else "",
                            "cover_image_url": model.cover_image_url, "github_url": model.github_url,
                            "paper_url": model.paper_url, "license_url": model.license_url, "readme": model.readme}

    def changes(self) -> dict:
        """What the owner changed, for update_model (so a rule about a field left alone, such as a
        model that may not go public, does not stop the save); a picked image replaces the cover URL."""
        data = {name: self.cleaned_data[name] for name in self.changed_data if name != "cover_pick"}
        if self.cleaned_data["cover_pick"]:
            data["cover_image_url"] = self.cleaned_data["cover_pick"]
        return data

    def add_domain_errors(self, errors: list[FieldError]) -> None:
        for error in errors:
            self.add_error(error.field if error.field in self.fields else None, error.message[:1].upper() +
                           error.message[1:])


class ExamplesForm(forms.Form):
    """Which of the owner's succeeded runs of the model are shown as its examples, and which one leads."""

    examples = forms.MultipleChoiceField(required=False, widget=forms.CheckboxSelectMultiple)
    default_example = forms.ChoiceField(required=False, widget=forms.RadioSelect)

    def __init__(self, model: Model, candidates: list[Prediction], *args, **kwargs):
        super().__init__(*args, **kwargs)
        ids = [(p.id, p.id) for p in candidates]
        self.candidates = candidates
        self.fields["examples"].choices = ids
        self.fields["default_example"].choices = [("", "None")] + ids
        if not self.is_bound:
            self.initial = {"examples": list(model.examples.values_list("pk", flat=True)),
                            "default_example": model.default_example_id or ""}

    def changes(self) -> dict:
        """The default example is one of the examples (update_model adds it when it is not ticked)."""
        return {"examples": self.cleaned_data["examples"], "default_example": self.cleaned_data["default_example"] or None}

    def add_domain_errors(self, errors: list[FieldError]) -> None:
        for error in errors:
            self.add_error(error.field if error.field in self.fields else None, error.message)
