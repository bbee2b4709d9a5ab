from django.contrib import admin

from core.admin import ReadOnlyAdmin
from validation.models import ValidationReport, ValidationRun

admin.site.register(ValidationReport, ReadOnlyAdmin)
admin.site.register(ValidationRun, ReadOnlyAdmin)
