"""Query parameters of the validation run list, validated here and applied by ``validation.selectors``."""

from __future__ import annotations

import django_filters

from validation.choices import Outcome, RunState
from validation.models import ValidationRun


class RunFilterSet(django_filters.FilterSet):
    """Query parameters of the runs list; ``validation.selectors.run_list`` applies them."""

    state = django_filters.ChoiceFilter(choices=RunState.choices)
    outcome = django_filters.ChoiceFilter(choices=Outcome.choices)
    passport = django_filters.CharFilter(help_text="Passport key.")

    class Meta:
        model = ValidationRun
        fields: list[str] = []
