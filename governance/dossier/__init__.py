"""Auditor exports: the PDF dossier and the evidence pack."""
