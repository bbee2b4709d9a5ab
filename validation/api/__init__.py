"""Validation API: runs (start, list, detail, cancel, results) and reports (issue, detail, HTML, PDF)."""
