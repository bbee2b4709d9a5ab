"""The access matrix of the validation API (runs, results, reports) and the auditor exports, against one world.

Rows run in order: reads first, then issuing a report, starting a run and cancelling it. Each denied user gets
their status in the one error shape and changes nothing; anonymous callers get 401.
"""

from __future__ import annotations

import pytest

from tests.api_helpers import Endpoint, check_endpoint
from tests.house import build_house
from validation.models import ValidationRun

pytestmark = pytest.mark.django_db
OUT = (("outsider", 404),)

ENDPOINTS = [
    Endpoint("GET", "/validation/runs/", "val", 200, (("outsider", 200),)),  # merely empty
    Endpoint("GET", "/validation/runs/{w.run}/", "val", 200, OUT),
    Endpoint("GET", "/validation/runs/{w.run}/results/", "val", 200, OUT),
    Endpoint("GET", "/validation/reports/{w.report}/", "auditor", 200, OUT),
    Endpoint("GET", "/validation/reports/{w.report}/html/", "val", 200, OUT),
    Endpoint("GET", "/validation/reports/{w.report}/pdf/", "val", 200, OUT),
    Endpoint("GET", "/passports/{w.key}/dossier.pdf", "auditor", 200, (*OUT, ("developer", 403))),
    Endpoint("GET", "/passports/{w.key}/evidence-pack.zip", "auditor", 200, (*OUT, ("developer", 403))),
    Endpoint("GET", "/passports/{w.key}/business-case/", "finance", 200, (*OUT, ("developer", 404))),
    Endpoint("POST", "/validation/explanations/", "val", 200, OUT,
             body=lambda w: {"passport": w.key, "version": w.number, "dataset": w.validation.pk, "row_numbers": [1]}),
    Endpoint("POST", "/validation/runs/{w.run}/report/", "val", 201, (*OUT, ("sec", 403)),
             body=lambda w: {"conclusion": "Fit for purpose.", "rating": "fit"}),
    Endpoint("POST", "/validation/runs/", "val", 201, (("outsider", 404), ("sec", 403)),
             body=lambda w: {"passport": w.key, "version": w.number, "reference": w.reference.pk,
                             "validation": w.validation.pk, "target": w.target}),
    Endpoint("POST", "/validation/runs/{w.newest_run}/cancel/", "val", 200, (*OUT, ("sec", 403))),
]


class _World:
    """The house, with the newest run looked up when a row asks for it (the start row creates one)."""

    def __init__(self, house):
        self.__dict__.update(vars(house))

    @property
    def newest_run(self) -> int:
        return ValidationRun.objects.latest("pk").pk


def test_the_validation_api_keeps_its_doors(django_capture_on_commit_callbacks):
    house = build_house(django_capture_on_commit_callbacks)
    world = _World(house)
    failures = {}
    for endpoint in ENDPOINTS:
        try:
            check_endpoint(endpoint, world, house.users)
        except AssertionError as exc:
            failures[str(endpoint)] = str(exc)[:300]
    assert failures == {}, "\n".join(f"{k}: {v}" for k, v in failures.items())
