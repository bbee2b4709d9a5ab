"""Account page forms: creating an API token."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.core.validators import MaxValueValidator
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from core.forms import BootstrapFormMixin
from governance.accounts.choices import TokenScope


class TokenCreateForm(BootstrapFormMixin, forms.Form):
    """Input of ``governance.accounts.services.token_create``."""

    name = forms.CharField(label=_("Name"), max_length=100,
                           widget=forms.TextInput(attrs={"placeholder": _("e.g. ci-pipeline")}))
    scopes = forms.MultipleChoiceField(label=_("Scopes"), choices=TokenScope.choices,
                                       widget=forms.CheckboxSelectMultiple)
    ttl_days = forms.IntegerField(label=_("Lifetime (days)"), min_value=1)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["scopes"].choices = [
            (value, format_html('{} <code class="small">{}</code>', label, value))
            for value, label in TokenScope.choices
        ]
        limit = settings.MG_TOKEN_MAX_TTL_DAYS
        ttl = self.fields["ttl_days"]
        ttl.initial = settings.MG_TOKEN_DEFAULT_TTL_DAYS
        ttl.validators.append(MaxValueValidator(limit))
        ttl.widget.attrs["max"] = limit
        ttl.help_text = _("Between 1 and %(max)s days.") % {"max": limit}
