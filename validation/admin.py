from django.contrib import admin

from governance.admin import ReadOnlyAdmin

from .models import ValidationReport, ValidationRun

admin.site.register(ValidationReport, ReadOnlyAdmin)
admin.site.register(ValidationRun, ReadOnlyAdmin)
