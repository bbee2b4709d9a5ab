"""Registry UI: passports, their versions, datasets and aliases.

Objects are fetched through ``registry.selectors`` (an invisible passport is a 404, like a missing one);
actions are allowed by ``user.has_perm(perm, passport)`` and performed by ``registry.services``.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from core.errors import DomainError
from core.forms import apply_domain_error
from core.uploads import upload_limit
from core.views import paginate
from governance.jobs import services as job_services
from registry import hooks, jobs, mlflow_follow, selectors, services
from registry import permissions as perms
from registry.choices import VersionState
from registry.forms import (
    SORT_KEYS,
    AliasForm,
    DatasetUploadForm,
    MlflowFollowForm,
    MlflowImportForm,
    PassportEditForm,
    PassportFilterForm,
    PassportForm,
    PassportRetierForm,
    SchemaRefineForm,
    TieringForm,
    VersionUploadForm,
)
from registry.models import SERVED_STOP_LIMIT, SERVED_THRESHOLD_KEYS
from registry.onnx_inspect import ArtifactRejected

PAGE_SIZE = 25
SORTS = {*SORT_KEYS, *(f"-{k}" for k in SORT_KEYS)}


def _require(user, perm: str, passport) -> None:
    if not user.has_perm(perm, passport):
        raise PermissionDenied


def _abilities(user, passport) -> dict:
    return {
        "change": user.has_perm(perms.CHANGE, passport),
        "upload": user.has_perm(perms.UPLOAD, passport),
        "mlflow": bool([uri for uri in settings.MG_MLFLOW_TRACKING_URIS if uri]),
        "move_alias": user.has_perm(perms.MOVE_ALIAS, passport),
        "retier": user.has_perm(perms.RETIER),
        **hooks.passport_abilities(user, passport),
    }


@login_required
def passport_list(request):
    visible = selectors.passport_list(user=request.user)
    form = PassportFilterForm(request.GET or None, visible_passports=visible)
    sort = request.GET.get("sort") if request.GET.get("sort") in SORTS else "key"
    passports = selectors.passport_list(user=request.user, filters=form.filters()).order_by(sort, "key")
    context = {
        "form": form,
        "page": paginate(request, passports, PAGE_SIZE),
        "sort": sort,
        "filtered": any(form.filters().values()),
        "can_create": request.user.has_perm(perms.CREATE),
    }
    return render(request, "registry/passport_list.html", context)


@login_required
def passport_create(request):
    if not request.user.has_perm(perms.CREATE):
        raise PermissionDenied
    form = PassportForm(request.POST or None, initial={"technical_owner": request.user})
    if request.method == "POST" and form.is_valid():
        try:
            passport = services.passport_create(actor=request.user, key=form.cleaned_data["key"],
                                                **form.service_kwargs())
        except DomainError as exc:
            apply_domain_error(form, exc)
        else:
            messages.success(request, _("Passport “%(key)s” created (risk tier %(tier)s).")
                             % {"key": passport.key, "tier": passport.risk_tier})
            if request.user.has_perm(perms.VIEW, passport):
                return redirect("registry:passport_detail", key=passport.key)
            return redirect("registry:passport_list")
    return render(request, "registry/passport_form.html", {"form": form, "passport": None})


@login_required
def passport_edit(request, key: str):
    passport = selectors.passport_get(user=request.user, key=key)
    _require(request.user, perms.CHANGE, passport)
    form = PassportEditForm(request.POST or None, instance=passport)
    if request.method == "POST" and form.is_valid():
        try:
            services.passport_update(actor=request.user, passport=passport, **form.service_kwargs())
        except DomainError as exc:
            apply_domain_error(form, exc)
        else:
            messages.success(request, _("Passport “%(key)s” saved.") % {"key": passport.key})
            return redirect("registry:passport_detail", key=passport.key)
    return render(request, "registry/passport_form.html", {"form": form, "passport": passport})


@login_required
def passport_retier(request, key: str):
    """Risk officers and administrators change the tiering answers or the business owner, with a reason."""
    passport = selectors.passport_get(user=request.user, key=key)
    if not request.user.has_perm(perms.RETIER):
        raise PermissionDenied
    form = PassportRetierForm(request.POST or None, instance=passport)
    if request.method == "POST" and form.is_valid():
        try:
            updated = services.passport_retier(actor=request.user, passport=passport,
                                               reason=form.cleaned_data["reason"], **form.service_kwargs())
        except DomainError as exc:
            apply_domain_error(form, exc)
        else:
            messages.success(request, _("Passport “%(key)s” re-tiered: tier %(tier)s.")
                             % {"key": passport.key, "tier": updated.risk_tier})
            return redirect("registry:passport_detail", key=passport.key)
    passport.refresh_from_db()  # the form's cleaning wrote the answers onto the instance
    return render(request, "registry/passport_retier.html", {"form": form, "passport": passport},
                  status=400 if form.errors else 200)


@login_required
@require_GET
def tier_preview(request):
    """HTMX fragment: the tier the questionnaire answers give, before the passport is saved."""
    form = TieringForm(request.GET)
    tier = services.tier_from_answers(**form.cleaned_data) if form.is_valid() else None
    return render(request, "registry/_tier_preview.html", {"tier": tier})


@login_required
def passport_detail(request, key: str):
    passport = selectors.passport_get(user=request.user, key=key)
    versions = list(selectors.version_list(user=request.user, passport=passport).order_by("-number"))
    aliases = list(selectors.alias_list(user=request.user, passport=passport))
    aliases_by_version: dict[int, list[str]] = {}
    for alias in aliases:
        aliases_by_version.setdefault(alias.version_id, []).append(alias.name)
    for version in versions:
        version.alias_names = aliases_by_version.get(version.pk, [])
    can = _abilities(request.user, passport)
    context = {
        "passport": passport,
        "versions": versions,
        "aliases": aliases,
        "datasets": selectors.dataset_list(user=request.user, passport=passport),
        "can": can,
        "alias_form": _alias_form(request, passport) if can["move_alias"] and versions else None,
        "served_stop_limit": SERVED_STOP_LIMIT, "served_thresholds": ", ".join(SERVED_THRESHOLD_KEYS),
    }
    return render(request, "registry/passport_detail.html", context)


def _alias_form(request, passport, data=None) -> AliasForm:
    return AliasForm(data, versions=selectors.version_list(user=request.user, passport=passport).order_by("-number"))


@upload_limit("MG_MAX_ARTIFACT_BYTES")
@login_required
def version_upload(request, key: str):
    passport = selectors.passport_get(user=request.user, key=key)
    _require(request.user, perms.UPLOAD, passport)
    form = VersionUploadForm(
        request.POST or None, request.FILES or None,
        datasets=selectors.dataset_list(user=request.user, passport=passport),
        versions=selectors.version_list(user=request.user, passport=passport).order_by("-number"),
    )
    if request.method == "POST" and form.is_valid():
        try:
            version = services.version_register(actor=request.user, passport=passport, **form.service_kwargs())
        except DomainError as exc:
            field = exc.field if exc.field in form.fields else "artifact"
            message = exc.message
            if isinstance(exc, ArtifactRejected) and field == "artifact":
                message = _("The artifact was rejected: %(reason)s") % {"reason": message}
            form.add_error(field, message)
        else:
            messages.success(request, _("Version %(number)s registered as a draft.") % {"number": version.number})
            return redirect("registry:version_detail", key=passport.key, number=version.number)
    return render(request, "registry/version_upload.html", {"passport": passport, "form": form})


@login_required
def version_import_mlflow(request, key: str):
    """Import a version from an allowed MLflow server (converted to ONNX with a parity check where needed)."""
    passport = selectors.passport_get(user=request.user, key=key)
    _require(request.user, perms.UPLOAD, passport)
    servers = [uri for uri in settings.MG_MLFLOW_TRACKING_URIS if uri]
    form = MlflowImportForm(request.POST or None, servers=servers,
                            initial={"tracking_uri": settings.MG_MLFLOW_TRACKING_URI or (servers or [""])[0]})
    initial = {"tracking_uri": settings.MG_MLFLOW_TRACKING_URI or (servers or [""])[0]}
    follow_form = MlflowFollowForm(request.POST if "follow-registered_model" in request.POST else None,
                                   servers=servers, initial=initial)
    if follow_form.is_bound:
        form = MlflowImportForm(servers=servers, initial=initial)
        if follow_form.is_valid():
            try:
                follow = mlflow_follow.follow_start(actor=request.user, passport=passport, **follow_form.cleaned_data)
            except DomainError as exc:
                follow_form.add_error(exc.field if exc.field in follow_form.fields else None, exc.message)
            else:
                messages.success(request, _("%(name)s is followed: each version registered after version %(n)s is "
                                            "imported as a draft.") % {"name": follow.registered_model,
                                                                       "n": follow.last_version})
                return redirect(reverse("registry:version_import_mlflow", args=[passport.key]) + "#mlflow-follows")
    elif request.method == "POST" and form.is_valid():
        try:  # refused at once with the form's errors; the download, conversion and parity check run in a worker
            job = job_services.job_start(actor=request.user, kind=jobs.IMPORT_MLFLOW,
                                         back_url=reverse("registry:passport_detail", kwargs={"key": passport.key}),
                                         params=jobs.params_for(passport, **form.cleaned_data))
        except DomainError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        else:
            messages.info(request, _("The import has started; this page shows how far it is."))
            return redirect("governance:job_detail", pk=job.pk)
    follows = selectors.mlflow_follow_list(user=request.user, passport=passport)
    invalid = form.errors or follow_form.errors
    return render(request, "registry/version_import_mlflow.html",
                  {"passport": passport, "form": form, "follow_form": follow_form, "servers": servers,
                   "follows": follows}, status=400 if invalid else 200)


@login_required
@require_POST
def mlflow_follow_stop(request, key: str, pk: int):
    passport = selectors.passport_get(user=request.user, key=key)
    _require(request.user, perms.UPLOAD, passport)
    follow = get_object_or_404(passport.mlflow_follows, pk=pk)
    mlflow_follow.follow_stop(actor=request.user, follow=follow)
    messages.info(request, _("%(name)s is no longer followed.") % {"name": follow.registered_model})
    return redirect(reverse("registry:version_import_mlflow", args=[passport.key]) + "#mlflow-follows")


def render_version_page(request, version, *, schema_form=None, status=200, **state):
    """The version page: registration details, and the panels of the rooms above (``registry.hooks.version_page``).

    Workflow views call this again with ``state`` (their bound forms and the service's refusal) to show why nothing
    changed.
    """
    passport = version.passport
    can_refine = version.state == VersionState.DRAFT and request.user.has_perm(perms.UPLOAD, passport)
    if can_refine and schema_form is None:
        schema_form = SchemaRefineForm(initial={"feature_schema": version.feature_schema})
    context = {
        "passport": passport,
        "version": version,
        "aliases": selectors.alias_list(user=request.user, passport=passport).filter(version=version),
        "schema_form": schema_form if can_refine else None,
        "can": _abilities(request.user, passport),
        **hooks.version_page(request, version, **state),
    }
    return render(request, "registry/version_detail.html", context, status=status)


@login_required
def version_detail(request, key: str, number: int):
    return render_version_page(request, selectors.version_get(user=request.user, passport_key=key, number=number))


@login_required
@require_POST
def version_refine_schema(request, key: str, number: int):
    version = selectors.version_get(user=request.user, passport_key=key, number=number)
    _require(request.user, perms.UPLOAD, version.passport)
    form = SchemaRefineForm(request.POST)
    if form.is_valid():
        try:
            services.version_refine_schema(actor=request.user, version=version,
                                           feature_schema=form.cleaned_data["feature_schema"])
        except DomainError as exc:
            apply_domain_error(form, exc, default_field="feature_schema")
        else:
            messages.success(request, _("Feature schema of version %(number)s saved.") % {"number": version.number})
            return redirect("registry:version_detail", key=key, number=number)
    return render_version_page(request, version, schema_form=form, status=400)


@upload_limit("MG_MAX_DATASET_BYTES")
@login_required
def dataset_upload(request, key: str):
    passport = selectors.passport_get(user=request.user, key=key)
    _require(request.user, perms.UPLOAD, passport)
    form = DatasetUploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            dataset = services.dataset_register(actor=request.user, passport=passport, upload=data["file"],
                                                name=data["name"], kind=data["kind"], fmt=data["fmt"] or None)
        except DomainError as exc:
            apply_domain_error(form, exc, default_field="file")
        else:
            messages.success(request, _("Dataset “%(name)s” registered: %(rows)s rows.")
                             % {"name": dataset.name, "rows": dataset.row_count})
            return redirect("registry:passport_detail", key=passport.key)
    return render(request, "registry/dataset_upload.html", {"passport": passport, "form": form})


@login_required
def alias_set(request, key: str):
    passport = selectors.passport_get(user=request.user, key=key)
    _require(request.user, perms.MOVE_ALIAS, passport)
    form = _alias_form(request, passport, request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            alias = services.alias_set(actor=request.user, passport=passport, name=form.cleaned_data["name"],
                                       version=form.cleaned_data["version"])
        except DomainError as exc:
            apply_domain_error(form, exc)
        else:
            messages.success(request, _("Alias “%(name)s” now points at version %(number)s.")
                             % {"name": alias.name, "number": alias.version.number})
            return redirect("registry:passport_detail", key=passport.key)
    aliases = selectors.alias_list(user=request.user, passport=passport)
    return render(request, "registry/alias_form.html", {"passport": passport, "form": form, "aliases": aliases})
