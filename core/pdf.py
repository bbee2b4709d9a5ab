"""PDF rendering with WeasyPrint that fetches nothing outside the project's own static files, and vector charts.

Every document the platform renders (validation reports, auditor dossiers) goes through ``html_to_pdf``. Its URL
fetcher answers only ``/static/...`` paths, from the project's static folders, and ``data:`` URIs; any other URL a
template or a hostile field might carry (``http://``, ``file://``, another host) is refused and recorded, so a
rendering never leaves the machine nor reads a file it was not meant to.
"""

from __future__ import annotations

import base64
import logging
import mimetypes
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

from django.conf import settings
from django.contrib.staticfiles import finders

# A base URL on a reserved, never-resolving host: relative and root-relative links in a document resolve under it,
# and the fetcher maps it back to the static folders. Nothing is ever requested from it over a network.
BASE_URL = "https://static.invalid/"
_STATIC_PREFIX = "/" + settings.STATIC_URL.strip("/") + "/"


@dataclass
class StaticOnlyFetcher:
    """A WeasyPrint URL fetcher for the project's static files and ``data:`` URIs; it records what it refused."""

    refused: list[str] = field(default_factory=list)
    served: list[str] = field(default_factory=list)

    def __call__(self, url: str):
        from weasyprint.urls import URLFetcherResponse

        if url.startswith("data:"):
            from urllib.request import urlopen

            with urlopen(url) as response:  # noqa: S310 - data: URIs carry their bytes; nothing is fetched
                return URLFetcherResponse(url, response.read(), {"Content-Type": response.headers.get_content_type()})
        path = self.static_path(url)
        if path is None:
            self.refused.append(url)
            raise ValueError(f"Refused to fetch {url!r}: documents may use the project's static files only.")
        self.served.append(url)
        content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        return URLFetcherResponse(url, path.read_bytes(), {"Content-Type": content_type})

    # WeasyPrint's fetch() helper reads this attribute of its fetcher.
    _fail_on_errors = False

    @staticmethod
    def static_path(url: str) -> Path | None:
        parts = urlsplit(url)
        if f"{parts.scheme}://{parts.netloc}/" != BASE_URL or parts.query:
            return None
        path = unquote(parts.path)
        if not path.startswith(_STATIC_PREFIX) or ".." in path.split("/"):
            return None
        found = finders.find(path.removeprefix(_STATIC_PREFIX))
        if not found:
            candidate = Path(settings.STATIC_ROOT) / path.removeprefix(_STATIC_PREFIX)
            found = str(candidate) if candidate.is_file() else None
        return Path(found) if found else None


def html_to_pdf(html: str, *, fetcher: StaticOnlyFetcher | None = None) -> bytes:
    """Render ``html`` (a whole document; link stylesheets as ``{% static %}`` paths) to PDF bytes."""
    from weasyprint import HTML

    # WeasyPrint logs every CSS rule it skips (Bootstrap's screen media queries, SVG properties) at WARNING;
    # only its errors (a refused or missing resource) are worth a line in the log.
    logging.getLogger("weasyprint").setLevel(logging.ERROR)
    fetcher = fetcher or StaticOnlyFetcher()
    return HTML(string=html, base_url=BASE_URL, url_fetcher=fetcher).write_pdf()


def figure_svg(figure, *, width: int = 720, height: int = 360) -> str:
    """A Plotly figure as an SVG document (vector, for PDFs), rendered offline by kaleido's bundled renderer.

    The first call starts kaleido's renderer (about 1.5 s); later calls in the same process take milliseconds."""
    svg = figure.to_image(format="svg", width=width, height=height)
    return svg.decode("utf-8") if isinstance(svg, bytes) else svg


def figure_data_uri(figure, *, width: int = 720, height: int = 360) -> str:
    """A Plotly figure as a ``data:image/svg+xml`` URI for an ``<img>`` in a PDF document: WeasyPrint draws it with
    its SVG renderer, as vectors, and the fetcher needs nothing outside the document."""
    svg = figure_svg(figure, width=width, height=height).encode("utf-8")
    return "data:image/svg+xml;base64," + base64.b64encode(svg).decode("ascii")
