"""Registry UI routes, mounted at /passports/. Fixed pages sit under ``-/`` so that no passport key can shadow them."""

from django.urls import path

from registry import views

app_name = "registry"
urlpatterns = [
    path("", views.passport_list, name="passport_list"),
    path("-/new/", views.passport_create, name="passport_create"),
    path("-/tier-preview/", views.tier_preview, name="tier_preview"),
    path("<slug:key>/", views.passport_detail, name="passport_detail"),
    path("<slug:key>/edit/", views.passport_edit, name="passport_edit"),
    path("<slug:key>/retier/", views.passport_retier, name="passport_retier"),
    path("<slug:key>/versions/upload/", views.version_upload, name="version_upload"),
    path("<slug:key>/versions/import-mlflow/", views.version_import_mlflow, name="version_import_mlflow"),
    path("<slug:key>/mlflow-follows/<int:pk>/stop/", views.mlflow_follow_stop, name="mlflow_follow_stop"),
    path("<slug:key>/versions/<int:number>/", views.version_detail, name="version_detail"),
    path("<slug:key>/versions/<int:number>/schema/", views.version_refine_schema, name="version_refine_schema"),
    path("<slug:key>/datasets/upload/", views.dataset_upload, name="dataset_upload"),
    path("<slug:key>/aliases/", views.alias_set, name="alias_set"),
]
