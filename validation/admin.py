from django.contrib import admin

from governance.admin import ReadOnlyAdmin

from .models import ValidationReport

admin.site.register(ValidationReport, ReadOnlyAdmin)
