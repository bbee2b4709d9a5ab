"""Root URLs: UI pages per app, the REST API under /api/v1/, the OpenAPI schema and docs."""

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerSplitView

from core import views as core_views
from core.csp import inline_styles

api_v1 = [
    path("", include("registry.api.urls")),
    path("", include("governance.api.urls")),
    path("validation/", include("validation.api.urls")),
    path("", include("serving.api.urls")),
]

urlpatterns = [
    path("", include("governance.ui_urls")),
    path("passports/", include("registry.urls")),
    path("validation/", include("validation.urls")),
    path("serving/", include("serving.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/", admin.site.urls),
    path("api/v1/", include(api_v1)),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", inline_styles(SpectacularSwaggerSplitView.as_view(url_name="api-schema")), name="api-docs"),
    path("api/redoc-dist/bundles/redoc.standalone.js", core_views.redoc_bundle, name="api-redoc-bundle"),
    path("api/redoc/", inline_styles(SpectacularRedocView.as_view(url_name="api-schema")), name="api-redoc"),
]

# No URL serves the artifact store: every stored file (artifacts, datasets, reports, attachments, evidence) goes out
# through a view that checks the reader's permission on its passport first.
