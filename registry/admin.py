"""Registry records are read-only in the admin: they change only through registry services."""

from django.contrib import admin
from guardian.admin import GuardedModelAdmin

from core.admin import ReadOnlyAdmin
from registry.models import Alias, Dataset, ModelPassport, ModelVersion


@admin.register(ModelPassport)
class ModelPassportAdmin(GuardedModelAdmin, ReadOnlyAdmin):
    """Object permissions (guardian) on passports are granted here; the passport itself is read-only."""

    list_display = ("key", "name", "risk_tier", "business_unit")
    search_fields = ("key", "name")

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(ModelVersion)
class ModelVersionAdmin(ReadOnlyAdmin):
    list_display = ("passport", "number", "state", "sha256", "created_at")
    list_filter = ("state",)


admin.site.register(Dataset, ReadOnlyAdmin)
admin.site.register(Alias, ReadOnlyAdmin)
