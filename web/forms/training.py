"""The Train tab's form: where the trained version goes. The training's own inputs are the run
form's fields built from the version's TrainingInput (web/forms/run.py)."""

from django import forms

from playground.models import Model
from playground.services import catalog

NEW = "__new__"


class DestinationForm(forms.Form):
    """One of the user's models, or a new private one named here (created with the training)."""

    destination = forms.ChoiceField(label="Destination model", help_text="The trained version is added to it.")
    new_name = forms.CharField(label="New model name", required=False, max_length=100,
                               help_text="Lowercase letters, digits, '.', '_' and '-'. It is created private.")

    def __init__(self, user, *args, suggested: str = "", **kwargs):
        kwargs.setdefault("prefix", "to")  # apart from the training's own inputs, whatever their names
        super().__init__(*args, **kwargs)
        self.user = user
        own = Model.objects.filter(owner=user).order_by("name").values_list("name", flat=True)
        choices = [(f"{user.username}/{name}", f"{user.username}/{name}") for name in own]
        self.fields["destination"].choices = [*choices, (NEW, "Create a new model…")]
        self.fields["destination"].initial = choices[0][0] if choices else NEW
        self.fields["new_name"].initial = suggested

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("destination") == NEW:
            name = (cleaned.get("new_name") or "").strip()
            if not name:
                self.add_error("new_name", "Name the new model.")
            elif problem := catalog.model_name_problem(name):
                self.add_error("new_name", problem)
            elif Model.objects.filter(owner=self.user, name=name).exists():
                self.add_error("new_name", f"You already have a model called {name}; pick it above.")
        return cleaned

    def target(self) -> tuple[str, bool]:
        """(owner/name, whether it is a new model to create with the training)."""
        chosen = self.cleaned_data["destination"]
        if chosen != NEW:
            return chosen, False
        return f"{self.user.username}/{self.cleaned_data['new_name'].strip()}", True
