"""Admin: people and organisation are edited here; audit events and tokens are read-only."""

from django import forms
from django.contrib import admin
from django.contrib.auth.admin import UserAdmin
from django.utils.decorators import method_decorator
from django.views.decorators.csrf import csrf_protect
from guardian.admin import GuardedModelAdmin

from core.admin import ReadOnlyAdmin
from core.errors import DomainError
from governance.accounts.models import ApiToken, BusinessUnit, Team, User
from governance.audit.models import AuditEvent
from governance.workflow.models import (
    ChecklistItem,
    Finding,
    RiskTierPolicy,
    SignOff,
    ValidatorAssignment,
    VersionReview,
)
from governance.workflow.services.policies import policy_check_roles, policy_update

admin.site.register(User, UserAdmin)


@admin.register(BusinessUnit)
class BusinessUnitAdmin(GuardedModelAdmin):
    list_display = ("code", "name")


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ("name",)
    filter_horizontal = ("members",)


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ("seq", "occurred_at", "actor_repr", "action", "object_repr", "request_id")
    list_filter = ("action",)
    search_fields = ("object_repr", "actor_repr", "passport_key")


@admin.register(ApiToken)
class ApiTokenAdmin(ReadOnlyAdmin):
    list_display = ("prefix", "user", "name", "expires_at", "revoked_at")
    exclude = ("key_hash",)


class RiskTierPolicyForm(forms.ModelForm):
    class Meta:
        model = RiskTierPolicy
        fields = ("required_roles", "checklist_required", "validation_depth", "approval_validity_months")

    def clean_required_roles(self):

        roles = self.cleaned_data.get("required_roles")
        try:
            policy_check_roles(roles)
        except DomainError as exc:
            raise forms.ValidationError(exc.message) from exc
        return roles


@admin.register(RiskTierPolicy)
class RiskTierPolicyAdmin(admin.ModelAdmin):
    """Administrators edit tier policies here; the save goes through the service (validated and audited)."""

    list_display = ("tier", "required_roles", "checklist_required", "validation_depth", "approval_validity_months",
                    "updated_at", "updated_by")
    fields = ("tier", "required_roles", "checklist_required", "validation_depth", "approval_validity_months")
    readonly_fields = ("tier",)

    def has_add_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_form(self, request, obj=None, change=False, **kwargs):
        return super().get_form(request, obj, change, form=RiskTierPolicyForm, **kwargs)

    @method_decorator(csrf_protect)
    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        # The admin opens a transaction around the whole form; the service opens its own, durable one (it is the
        # unit of work), so this page does not. Nothing else on the page writes.
        return self._changeform_view(request, object_id, form_url, extra_context)

    def save_model(self, request, obj, form, change):

        # The form's clean() has run the service's checks: a refusal is shown on the form, never as "saved".
        policy_update(actor=request.user, policy=obj, **{f: form.cleaned_data[f] for f in form.changed_data})


for _model in (VersionReview, SignOff, Finding, ChecklistItem, ValidatorAssignment):
    admin.site.register(_model, ReadOnlyAdmin)
