"""Workflow writes, one module per concern; import services from their modules."""
