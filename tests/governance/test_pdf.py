"""The PDF renderer serves the project's static files and data: URIs and refuses everything else, so a document
(or a hostile field that slipped through as markup) can neither reach the network nor read local files."""

import http.server
import threading

import pytest

from core.pdf import StaticOnlyFetcher, html_to_pdf


@pytest.fixture
def server():
    """A local HTTP server that counts requests: nothing may reach it."""
    hits = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            hits.append(self.path)
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    httpd = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", hits
    httpd.shutdown()


def test_markup_that_asks_for_the_network_or_local_files_is_refused(server):
    url, hits = server
    fetcher = StaticOnlyFetcher()
    html = (f'<html><head><link rel="stylesheet" href="{url}/x.css"></head><body>'
            f'<img src="{url}/x.png"><img src="file:///etc/passwd"><img src="/static/../settings.py">'
            '<link rel="stylesheet" href="/static/css/app.css"><p>text</p></body></html>')
    pdf = html_to_pdf(html, fetcher=fetcher)
    assert pdf.startswith(b"%PDF")
    assert hits == []  # nothing was requested from the server
    assert f"{url}/x.css" in fetcher.refused and f"{url}/x.png" in fetcher.refused
    assert "file:///etc/passwd" in fetcher.refused
    assert any(u.endswith("settings.py") for u in fetcher.refused)  # no climbing out of the static folders
    assert fetcher.served == ["https://static.invalid/static/css/app.css"]


def test_escaped_hostile_text_asks_for_nothing(server):
    from django.utils.html import escape

    url, hits = server
    fetcher = StaticOnlyFetcher()
    html_to_pdf(f"<html><body><p>{escape(f'<img src={url}/y.png><script>alert(1)</script>')}</p></body></html>",
                fetcher=fetcher)
    assert hits == [] and fetcher.refused == []
