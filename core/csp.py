"""Content-Security-Policy exceptions, named once (the policy itself is ``CONTENT_SECURITY_POLICY`` in settings).

Plotly and the API documentation renderers inject ``<style>`` elements at run time; pages that use them allow inline
*styles* (never inline scripts) through :data:`inline_styles`.
"""

from __future__ import annotations

from csp.decorators import csp_update

INLINE_STYLES = {"style-src": ["'unsafe-inline'"]}

inline_styles = csp_update(INLINE_STYLES)
