"""What the export audit events say (their object is the passport, named by the registry)."""

from __future__ import annotations

from django.utils.translation import gettext_lazy

from governance.audit.describe import action_text

action_text("dossier.exported", gettext_lazy("Dossier exported"),
            gettext_lazy("{actor} exported the dossier PDF of {object}."))
action_text("evidence_pack.exported", gettext_lazy("Evidence pack exported"),
            gettext_lazy("{actor} exported the evidence pack of {object}."))
