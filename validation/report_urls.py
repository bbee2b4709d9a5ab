"""Routes of validation (report_urls); filled in by the views that own them."""

urlpatterns: list = []
