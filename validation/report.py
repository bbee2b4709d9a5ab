"""The frozen validation report: one content, rendered once as an HTML document (whose sha256 is the report digest
sign-offs bind to) and once as a PDF that carries that digest in every page's footer.

Both renderings take the same context (``report_context``): the passport and version, the datasets and their
digests, the run's reproducibility record, every test with its threshold and result and its charts, the
version's findings, the validator's conclusion and the sign-offs recorded when it was issued. The HTML draws the
charts with the vendored Plotly; the PDF embeds the same figures as vector SVG images. Every field is escaped by
the template engine; the PDF renderer serves nothing but the project's static files (``core.pdf``).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.translation import gettext as _

from core.links import absolute_url
from core.pdf import StaticOnlyFetcher, figure_data_uri, html_to_pdf
from validation import hooks, run_display
from validation.checks import note_text
from validation.choices import Rating
from validation.gaps import run_gaps


@dataclass(frozen=True)
class Rendered:
    html: bytes
    sha256: str
    pdf: bytes
    pdf_sha256: str
    refused: tuple[str, ...]  # URLs the PDF renderer was asked for and refused (nothing, for a clean document)


def report_context(*, run, conclusion: str, issued_by, issued_at, exceptions: dict | None = None, rating: str = "",
                   conditions: list | None = None) -> dict:
    """The context of both renderings, read from the database: the run's version, its findings and sign-offs."""
    version = run.version
    findings = list(hooks.version_findings(version))
    signoffs = list(version.signoffs.select_related("signer").order_by("signed_at", "pk"))
    return build_context(run=run, version=version, passport=version.passport, findings=findings, signoffs=signoffs,
                         conclusion=conclusion, issued_by=issued_by, issued_at=issued_at, exceptions=exceptions,
                         rating=rating, conditions=conditions)


def build_context(*, run, version, passport, findings: list, signoffs: list, conclusion: str, issued_by,
                  issued_at, exceptions: dict | None = None, rating: str = "", conditions: list | None = None) -> dict:
    sections, charts = run_display.sections(run.results or {})
    summary = (run.results or {}).get("summary") or {}
    environment = run.environment or {}
    toc = [("summary", "summary"), ("model", "model"), ("data", "data"), ("results", "results")]
    return {
        "run": run, "version": version, "passport": passport, "results": run.results or {},
        "sections": sections, "charts": charts, "summary": summary,
        "summary_rows": run_display.summary_rows(run.results or {}),
        "counts": {key: len(summary.get(key) or []) for key in ("passed", "failed", "info", "skipped", "error")},
        "findings": findings, "signoffs": signoffs, "conclusion": conclusion, "issued_by": issued_by,
        "rating": rating, "rating_label": Rating(rating).label if rating in Rating.values else "",
        "conditions": conditions or [],
        "issued_at": issued_at, "environment": environment,
        "packages": sorted((environment.get("packages") or {}).items()), "toc": toc,
        "exceptions": _exceptions(run, exceptions), "failed_tests": run_gaps(run)["failed"],
    }


def _exceptions(run, exceptions: dict | None) -> list[dict]:
    """The validator's exceptions, each with the test's name and why the run skipped it in the report's language
    (the reason recorded with the exception is in the language it was issued in)."""
    results = (run.results or {}).get("tests") or {}
    rows = []
    for test, exception in sorted((exceptions or {}).items()):
        exception = exception if isinstance(exception, dict) else {"justification": str(exception)}
        result = results.get(test)
        rows.append({"test": test, "label": run_display.check_label(test),
                     "justification": exception.get("justification", ""),
                     "skipped_because": note_text(result) if result else exception.get("skipped_because", "")})
    return rows


def render_html(context: dict) -> bytes:
    return render_to_string("validation/report/report.html", {**context, "pdf": False}).encode("utf-8")


PDF_EFFECT_PLOTS = 6  # per-feature SHAP effect plots in the PDF (the HTML report draws every one it has)


def render_pdf(context: dict, *, report_sha256: str, fetcher: StaticOnlyFetcher | None = None) -> bytes:
    for section in context["sections"]:
        effects = [f for f in section.figures if f["id"].startswith("shap-effect-")]
        section.figures = [f for f in section.figures if f not in effects[PDF_EFFECT_PLOTS:]]
        for figure in section.figures:
            figure["uri"] = figure_data_uri(_print_figure(figure["figure"]), width=680, height=320)
    version = context["version"]
    online = absolute_url(reverse("registry:version_detail", kwargs={"key": context["passport"].key,
                                                                      "number": version.number}))
    html = render_to_string("validation/report/report.html", {**context, "pdf": True, "report_sha256": report_sha256,
                                                               "online_url": online})
    return html_to_pdf(html, fetcher=fetcher)


def _print_figure(figure: dict) -> dict:
    """The same figure sized for an A4 column (fixed size: no responsive layout in a PDF)."""
    import plotly.graph_objects as go

    layout = {**figure.get("layout", {}), "width": 680, "height": min(int(figure.get("layout", {}).get("height")
                                                                            or 320), 760)}
    data = [_thin_markers(trace) for trace in figure.get("data", [])]
    return go.Figure({"data": data, "layout": layout})


def _thin_markers(trace: dict, most: int = 120) -> dict:
    """Marker-only scatter traces keep at most ``most`` evenly spaced points in print: each marker is a vector path
    the PDF must draw, and an effect plot reads the same with a hundred points as with two hundred."""
    if trace.get("type") != "scatter" or trace.get("mode") != "markers":
        return trace
    xs, ys = trace.get("x") or [], trace.get("y") or []
    if len(xs) <= most:
        return trace
    step = len(xs) / most
    keep = [int(i * step) for i in range(most)]
    return {**trace, "x": [xs[i] for i in keep], "y": [ys[i] for i in keep]}


def render(*, run, conclusion: str, issued_by, issued_at, exceptions: dict | None = None, rating: str = "",
           conditions: list | None = None, progress=None) -> Rendered:
    """Render both documents of a report; raises whatever rendering raised (the caller stores nothing then)."""
    tell = progress or (lambda step, percent: None)
    tell(_("Rendering the HTML document"), 10)
    context = report_context(run=run, conclusion=conclusion, issued_by=issued_by, issued_at=issued_at,
                             exceptions=exceptions, rating=rating, conditions=conditions)
    html = render_html(context)
    sha256 = hashlib.sha256(html).hexdigest()
    fetcher = StaticOnlyFetcher()
    tell(_("Drawing the charts and rendering the PDF"), 35)
    pdf = render_pdf(context, report_sha256=sha256, fetcher=fetcher)
    return Rendered(html=html, sha256=sha256, pdf=pdf, pdf_sha256=hashlib.sha256(pdf).hexdigest(),
                    refused=tuple(fetcher.refused))
