"""Helpers every UI form shares: Bootstrap classes, readable blank choices, pretty JSON, domain errors on the form.

Forms validate input and shape it for a service call; they never write. Business rules stay in services,
whose DomainError is put back on the form by :func:`apply_domain_error`."""

from __future__ import annotations

import json

from django import forms
from django.utils.translation import gettext_lazy as _

from core.conditions import MAX_CONDITIONS
from core.errors import DomainError

_CHECK_WIDGETS = (forms.CheckboxInput, forms.CheckboxSelectMultiple, forms.RadioSelect)


def _label_blank_choice(field) -> None:
    """Replace Django's "---------" placeholder of required selects with a readable one."""
    if isinstance(field, forms.ModelChoiceField):
        if field.empty_label == "---------":
            field.empty_label = _("Select…")
    elif getattr(field, "choices", None):
        choices = list(field.choices)
        if choices and choices[0][0] in ("", None) and choices[0][1] == "---------":
            field.choices = [("", _("Select…")), *choices[1:]]


class BootstrapFormMixin:
    """Gives widgets Bootstrap 5 classes and marks fields with errors as invalid."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            widget = field.widget
            if isinstance(widget, _CHECK_WIDGETS):
                css = "form-check-input"
            elif isinstance(widget, forms.Select):
                css = "form-select"
                _label_blank_choice(field)
            else:
                css = "form-control"
            widget.attrs["class"] = f"{widget.attrs.get('class', '')} {css}".strip()

    def add_error(self, field, error):
        super().add_error(field, error)
        names = [field] if field else []
        if field is None and isinstance(error, dict):
            names = list(error)
        for name in names:
            if name in self.fields:
                widget = self.fields[name].widget
                if "is-invalid" not in widget.attrs.get("class", ""):
                    widget.attrs["class"] = f"{widget.attrs.get('class', '')} is-invalid".strip()


class PrettyJSONField(forms.JSONField):
    """A JSON textarea that shows its value indented, so people can read and edit it."""

    def __init__(self, *, rows: int = 6, **kwargs):
        attrs = {"rows": rows, "class": "font-monospace", "spellcheck": "false"}
        kwargs.setdefault("widget", forms.Textarea(attrs=attrs))
        super().__init__(**kwargs)

    def prepare_value(self, value):
        if isinstance(value, forms.fields.InvalidJSONInput):
            return value
        if value in (None, {}, []):  # an empty box, not "null" or "{}"
            return ""
        return json.dumps(value, indent=2, ensure_ascii=False, cls=self.encoder)


def apply_domain_error(form: forms.Form, exc: DomainError, *, default_field: str | None = None) -> None:
    """Show a service's refusal on the form: on the field it names when the form has it, else on top."""
    field = exc.field if exc.field in form.fields else default_field
    form.add_error(field if field in form.fields else None, exc.message)


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self, attrs=None):
        super().__init__(attrs, format="%Y-%m-%d")


class ConditionForm(BootstrapFormMixin, forms.Form):
    """One dated condition (an approval with conditions, a report rated fit with conditions); a blank row is
    ignored."""

    text = forms.CharField(label=_("Condition"), required=False, max_length=2000)
    due_date = forms.DateField(label=_("Due date"), required=False, widget=DateInput())

    def clean(self):
        data = super().clean()
        if bool(data.get("text")) != bool(data.get("due_date")):
            raise forms.ValidationError(_("A condition needs both a text and a due date."))
        return data


ConditionFormSet = forms.formset_factory(ConditionForm, extra=2, max_num=MAX_CONDITIONS, validate_max=True)


def condition_list(formset) -> list[dict]:
    """The filled rows of a valid ``ConditionFormSet`` as ``[{"text", "due_date"}]``."""
    return [{"text": f.cleaned_data["text"], "due_date": f.cleaned_data["due_date"].isoformat()}
            for f in formset if f.cleaned_data.get("text")]
