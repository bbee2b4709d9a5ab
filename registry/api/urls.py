"""Registry API routes, mounted under /api/v1/ by the root urls."""

from rest_framework.routers import SimpleRouter

from registry.api import views

app_name = "registry-api"

PASSPORT = r"passports/(?P<passport_key>[^/]+)"

router = SimpleRouter()
router.register("passports", views.PassportViewSet, basename="passport")
router.register(f"{PASSPORT}/versions", views.VersionViewSet, basename="passport-version")
router.register(f"{PASSPORT}/datasets", views.DatasetViewSet, basename="passport-dataset")
router.register(f"{PASSPORT}/aliases", views.AliasViewSet, basename="passport-alias")
router.register(f"{PASSPORT}/mlflow-follows", views.MlflowFollowViewSet, basename="passport-mlflow-follow")

urlpatterns = router.urls
