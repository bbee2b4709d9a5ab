"""Files are stored under names the server makes (a digest and a plain suffix); the client's name is data only."""

from __future__ import annotations

import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from governance.workflow.models import ChecklistItem
from governance.workflow.services import findings
from registry.storage import display_name, safe_suffix
from tests.governance.workflow_helpers import Cast, register, to_in_validation
from validation import services as validation_services

pytestmark = pytest.mark.django_db
STORED = re.compile(r"^[a-z]+/[\w./-]+/[0-9a-f]{64}\.[a-z0-9]{1,10}$")
HOSTILE_NAMES = ["CON", ".htaccess", "report\r\nSet-Cookie: x=1.md", "../../etc/passwd", "NUL.txt", "a\x00b.pdf"]


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_suffix_and_display_name_of_hostile_names(name):
    assert re.fullmatch(r"\.[a-z0-9]{1,10}", safe_suffix(name))
    shown = display_name(name)
    assert not re.search(r"[\x00-\x1f/]", shown) and shown


def test_reports_and_attachments_are_stored_under_server_names(client, passport, developer):
    cast = Cast()
    version = to_in_validation(register(passport, developer), developer, cast)
    report = validation_services.report_issue_uploaded(
        rating="fit", actor=cast.validator, version=version, conclusion="Fit.",
        upload=SimpleUploadedFile("CON\r\nX-Evil: 1.md", b"# report"))
    assert STORED.match(report.file.name) and report.file.name.endswith(".md")
    assert report.filename == "CON__X-Evil: 1.md"  # the client's name, kept as data without its CR/LF
    for code, name in (("ML05", ".htaccess"), ("ML06", "../../x\r\n.txt")):
        item = ChecklistItem.objects.get(version=version, code=code)
        findings.checklist_answer(actor=cast.security, item=item, status="mitigated",
                                  attachment=SimpleUploadedFile(name, b"evidence"))
        item.refresh_from_db()
        assert STORED.match(item.attachment.name), item.attachment.name
        assert item.attachment_name == display_name(name)
    client.force_login(cast.validator)
    response = client.get(f"/passports/{passport.key}/versions/{version.number}/review/reports/{report.pk}/download/")
    assert response.status_code == 200 and "\n" not in response["Content-Disposition"]
    response = client.get(f"/passports/{passport.key}/versions/{version.number}/review/checklist/ML06/attachment/")
    assert response.status_code == 200 and b"".join(response.streaming_content) == b"evidence"
