"""The kernel every room uses: the domain error and its shape, DRF base pieces, UI helpers, the PDF fetcher.

It imports no room (checked by import-linter in the test command)."""
