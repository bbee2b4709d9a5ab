"""The dossier PDF and the evidence pack as background jobs (``governance.jobs``): the passport page starts one,
the job page shows how far it is, and the file waits there for its owner. Who may export is asked by the export
services themselves, when the job starts, when it runs and before the file is handed out."""

from __future__ import annotations

from django.urls import reverse
from django.utils.translation import gettext as _

from governance.dossier import services as evidence
from governance.jobs.kinds import JobKind, Outcome, register
from registry.models import ModelPassport
from registry.selectors import passport_for_job

DOSSIER, EVIDENCE_PACK = "dossier.pdf", "dossier.evidence_pack"


def _passport(actor, params: dict) -> ModelPassport:
    return passport_for_job(user=actor, key=params.get("passport"))


def _authorize(actor, params: dict) -> None:
    evidence._require(actor, _passport(actor, params))


def _run_dossier(actor, params: dict, progress) -> Outcome:
    dossier = evidence.dossier_export(actor=actor, passport=_passport(actor, params), progress=progress)
    return Outcome(content=dossier.content, filename=dossier.filename, content_type="application/pdf",
                   sha256=dossier.sha256,
                   label=_("The dossier's records have SHA-256 %(digest)s; the export is in the audit log.")
                   % {"digest": dossier.records_sha256[:12]})


def _run_pack(actor, params: dict, progress) -> Outcome:
    pack = evidence.evidence_pack_export(actor=actor, passport=_passport(actor, params), progress=progress)
    return Outcome(file=pack.file, filename=pack.filename, content_type="application/zip", sha256=pack.sha256,
                   label=_("%(files)s files; check them offline with verify.py inside the pack.")
                   % {"files": len(pack.manifest.get("files", []))})


register(JobKind(name=DOSSIER, run=_run_dossier, authorize=_authorize,
                 title=lambda params: _("Dossier of passport %(key)s") % {"key": params.get("passport")}))
register(JobKind(name=EVIDENCE_PACK, run=_run_pack, authorize=_authorize,
                 title=lambda params: _("Evidence pack of passport %(key)s") % {"key": params.get("passport")}))


def back_url(key: str) -> str:
    return reverse("registry:passport_detail", kwargs={"key": key})
