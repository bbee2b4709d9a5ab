"""The site root: signed-in users land on the passport list."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect


@login_required
def home(request):
    return redirect("registry:passport_list")
