"""Checklist evidence from validation: a succeeded run's robustness results fill ML01 (input manipulation) and its
generalisation gap and membership-attack AUC fill ML04 (membership inference) of the version's OWASP checklist.

The platform only prefills ``auto_evidence``; the item's status, its own evidence and who answered stay as a
person left them, and a person still confirms the item by answering it.
"""

from __future__ import annotations

from django.db import transaction
from django.utils.translation import gettext as _

from core.actors import SYSTEM
from governance.audit.services import audit_append
from governance.workflow.models import ChecklistItem
from governance.workflow.owasp import VALIDATION_EVIDENCE, validation_evidence
from governance.workflow.services.signoffs import checklist_digest, signoffs_void


def checklist_fill_from_run(*, run) -> list[str]:
    """Refresh the auto evidence of ML01 / ML04 of ``run``'s version from ``run`` (a run that just succeeded).

    Runs inside the caller's transaction (``validation.services.run_succeed``), so the run's results and the
    evidence drawn from them commit together. Only items whose test the run ran are touched; keys other sources
    put in the same item's auto evidence are kept. The checklist digest changes, so sign-offs bound to the old
    checklist stop counting, as for any checklist change. Returns the codes filled; audit:
    ``checklist.auto_evidence_filled`` with the new checklist digest.
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("checklist_fill_from_run runs inside the transaction that stores the run's results")

    tests = (run.results or {}).get("tests") or {}
    codes = [code for code, test in VALIDATION_EVIDENCE.items() if test in tests]
    items = {item.code: item for item in ChecklistItem.objects.select_for_update(no_key=True).filter(
        version_id=run.version_id, code__in=codes)}
    filled = []
    for code in codes:
        item = items.get(code)
        if item is None:  # a version never submitted has no checklist yet; submitting it prefills from this run
            continue
        item.auto_evidence = {**(item.auto_evidence or {}), **validation_evidence(code, run)}
        item.save(update_fields=["auto_evidence"])
        filled.append(code)
    if filled:
        version = run.version
        audit_append(actor=SYSTEM, action="checklist.auto_evidence_filled", obj=version,
                     passport_key=version.passport.key,
                     digests={"checklist_sha256": checklist_digest(version),
                              "results_sha256": run.digests.get("results", "")},
                     data={"version": version.number, "codes": filled, "validation_run": run.pk})
        signoffs_void(actor=SYSTEM, version=version,
                      reason=_("the OWASP checklist's automatic evidence (%(codes)s) was refreshed from validation "
                               "run #%(run)s") % {"codes": ", ".join(filled), "run": run.pk})
    return filled


def checklist_refresh_auto(*, actor, version, codes: list[str], reason: str) -> list[str]:
    """Recompute the automatic evidence of ``codes`` on ``version``'s checklist (a room above changed what it
    knows, e.g. serving's alert policy); items whose evidence changed are saved, audited, and the sign-offs bound
    to the old checklist stop counting with ``reason``. Runs inside the caller's transaction."""
    from governance.workflow.owasp import auto_evidence_for

    items = ChecklistItem.objects.select_for_update(no_key=True).filter(version=version, code__in=codes)
    changed = []
    for item in items:
        fresh = {**(item.auto_evidence or {}), **auto_evidence_for(item.code, version)}
        if fresh != item.auto_evidence:
            item.auto_evidence = fresh
            item.save(update_fields=["auto_evidence"])
            changed.append(item.code)
    if changed:
        audit_append(actor=actor, action="checklist.auto_evidence_filled", obj=version,
                     passport_key=version.passport.key, digests={"checklist_sha256": checklist_digest(version)},
                     data={"version": version.number, "codes": sorted(changed), "reason": reason})
        signoffs_void(actor=actor, version=version, reason=reason)
    return sorted(changed)
