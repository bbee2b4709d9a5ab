"""The audit chain: append, verification, the chain head."""
