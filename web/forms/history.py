"""The history page's filters."""

from django import forms

from playground.models import Status

# htmx swaps the whole filter form with the results (so errors show in place); hx-preserve keeps
# what someone types meanwhile from being replaced by the answer to an earlier request.
_KEEP = {"hx-preserve": "true"}


class HistoryFilters(forms.Form):
    model = forms.CharField(required=False, max_length=201,
                            widget=forms.TextInput(attrs={**_KEEP, "placeholder": "owner/name"}))
    status = forms.ChoiceField(required=False, choices=[("", "Any status"), *Status.choices],
                               widget=forms.Select(attrs=_KEEP))
    created_after = forms.DateField(required=False, label="From",
                                    widget=forms.DateInput(attrs={**_KEEP, "type": "date"}))
    created_before = forms.DateField(required=False, label="To",
                                     widget=forms.DateInput(attrs={**_KEEP, "type": "date"}))
    q = forms.CharField(required=False, max_length=200, label="Input contains",
                        widget=forms.TextInput(attrs={**_KEEP, "type": "search", "placeholder": "Text in the input"}))

    def clean_model(self) -> str:
        value = self.cleaned_data["model"].strip()
        if value and value.count("/") != 1:
            raise forms.ValidationError("Write the model as owner/name.")
        return value

    def clean(self):
        cleaned = super().clean()
        after, before = cleaned.get("created_after"), cleaned.get("created_before")
        if after and before and after > before:
            self.add_error("created_before", "Pick a day on or after the “From” day.")
        return cleaned
