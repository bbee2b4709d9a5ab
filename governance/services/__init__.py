"""Governance writes. Import services from their modules: ``from governance.services.audit import audit_append``."""
