"""Who reads the audit chain: auditors, risk officers, security and administrators (a role-wide permission)."""

VIEW_AUDIT = "governance.view_auditevent"
