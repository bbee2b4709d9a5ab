"""Filter plumbing for list endpoints whose selector does the filtering (one function for the UI and the API)."""

from __future__ import annotations

import django_filters
from django_filters.rest_framework import DjangoFilterBackend
from rest_framework.exceptions import ValidationError


class SelectorFilterBackend(DjangoFilterBackend):
    """Documents a list view's ``filterset_class`` in the schema; the view's selector does the filtering.

    Selectors scope and filter in one function shared by the UI and the API, so list views validate their
    query string with :meth:`SelectorFilterMixin.selector_filters` and hand the cleaned values to the
    selector. Filtering here again would apply every condition twice.
    """

    def filter_queryset(self, request, queryset, view):
        return queryset


class SelectorFilterMixin:
    """For viewsets whose ``get_queryset`` calls a selector with ``filters=self.selector_filters()``."""

    filterset_class: type[django_filters.FilterSet] | None = None

    def selector_filters(self) -> dict:
        """The list action's validated query parameters (400 on bad values); other actions get none."""
        if getattr(self, "action", None) != "list" or self.filterset_class is None:
            return {}
        filterset = self.filterset_class(
            self.request.query_params, queryset=self.filterset_class._meta.model.objects.none(), request=self.request
        )
        if not filterset.is_valid():
            raise ValidationError(filterset.errors)
        return {name: value for name, value in filterset.form.cleaned_data.items() if value not in (None, "")}
