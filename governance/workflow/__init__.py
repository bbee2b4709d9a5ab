"""The approval workflow: lifecycle, tier policies, sign-offs, findings, the OWASP checklist."""
