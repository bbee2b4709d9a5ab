"""Registry reads, already limited to what the user may see, with related rows fetched up front."""

from __future__ import annotations

from django.db.models import Count, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce
from django.http import Http404
from django.utils.translation import gettext as _

from core import errors
from registry.models import Alias, Dataset, MlflowFollow, ModelPassport, ModelVersion
from registry.permissions import restrict_passports


def passport_list(*, user, filters: dict | None = None) -> QuerySet[ModelPassport]:
    """Passports visible to ``user``, annotated with version count and latest version number and state.

    filters: ``q`` (key or name contains), ``tier``, ``owner`` (user id: business or technical owner),
    ``state`` (has a version in that state), ``business_unit`` (id or code).
    """
    filters = filters or {}
    latest = ModelVersion.objects.filter(passport=OuterRef("pk")).order_by("-number")
    qs = restrict_passports(ModelPassport.objects.all(), user)
    if q := (filters.get("q") or "").strip():
        qs = qs.filter(Q(key__icontains=q) | Q(name__icontains=q))
    if tier := filters.get("tier"):
        qs = qs.filter(risk_tier=tier)
    if owner := filters.get("owner"):
        qs = qs.filter(Q(business_owner_id=owner) | Q(technical_owner_id=owner))
    if state := filters.get("state"):
        qs = qs.filter(pk__in=ModelVersion.objects.filter(state=state).values("passport_id"))
    if unit := filters.get("business_unit"):
        qs = qs.filter(business_unit__code=unit) if not str(unit).isdigit() else qs.filter(business_unit_id=unit)
    # Correlated subqueries, not a JOIN + GROUP BY: the database orders and limits the passports first and
    # computes the three figures only for the rows of the page (a GROUP BY would aggregate every version).
    version_count = (ModelVersion.objects.filter(passport=OuterRef("pk")).order_by().values("passport")
                     .annotate(n=Count("pk")).values("n"))
    return qs.select_related("business_owner", "technical_owner", "business_unit", "development_team").annotate(
        version_count=Coalesce(Subquery(version_count[:1]), Value(0)),
        latest_version=Subquery(latest.values("number")[:1]),
        latest_state=Subquery(latest.values("state")[:1]),
    )


def passport_get(*, user, key: str) -> ModelPassport:
    """The passport with ``key`` if ``user`` may see it; Http404 otherwise (missing and forbidden look alike)."""
    passport = restrict_passports(ModelPassport.objects.all(), user).select_related(
        "business_owner", "technical_owner", "business_unit", "development_team", "created_by"
    ).filter(key=key).first()
    if passport is None:
        raise Http404("No such passport.")
    return passport


def passport_for_job(*, user, key: str) -> ModelPassport:
    """The passport with ``key`` for background work ``user`` asked for; a DomainError (the job fails with it) when
    they may not see it (any more): roles change between the request and the worker."""
    passport = restrict_passports(ModelPassport.objects.all(), user).filter(key=key).first()
    if passport is None:
        raise errors.PermissionDenied(_("Passport '%(key)s' is not visible to you (any more).") % {"key": key},
                                      code="not_visible")
    return passport


def version_list(*, user, passport: ModelPassport | None = None) -> QuerySet[ModelVersion]:
    qs = restrict_passports(ModelVersion.objects.all(), user, prefix="passport__")
    if passport is not None:
        qs = qs.filter(passport=passport)
    return qs.select_related("passport", "author", "training_dataset", "parent")


def version_get(*, user, passport_key: str, number: int) -> ModelVersion:
    version = version_list(user=user).filter(passport__key=passport_key, number=number).first()
    if version is None:
        raise Http404("No such version.")
    return version


def mlflow_follow_list(*, user, passport: ModelPassport | None = None) -> QuerySet[MlflowFollow]:
    qs = restrict_passports(MlflowFollow.objects.all(), user, prefix="passport__")
    if passport is not None:
        qs = qs.filter(passport=passport)
    return qs.select_related("passport", "created_by").order_by("-active", "registered_model", "pk")


def dataset_list(*, user, passport: ModelPassport | None = None) -> QuerySet[Dataset]:
    qs = restrict_passports(Dataset.objects.all(), user, prefix="passport__")
    if passport is not None:
        qs = qs.filter(passport=passport)
    return qs.select_related("passport", "uploaded_by")


def alias_list(*, user, passport: ModelPassport | None = None) -> QuerySet[Alias]:
    qs = restrict_passports(Alias.objects.all(), user, prefix="passport__")
    if passport is not None:
        qs = qs.filter(passport=passport)
    return qs.select_related("passport", "version", "updated_by")
