"""Benchmark the PDF of a full validation report: the results of a bench-sized run (every test, champion included,
100-tree depth-6 model, 30 features, 100,000 validation rows) rendered to PDF with its vector charts."""

from __future__ import annotations

import json
import os
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

from django.core.management.base import BaseCommand

from validation import report
from validation.management.commands.bench_validation import Command as BenchValidation
from validation.runner import execute


def _choices(**values):
    """Attributes and ``get_<field>_display`` methods, as the report template reads them from models."""
    out = SimpleNamespace(**{k: v for k, v in values.items() if not k.endswith("_display")})
    for key, value in values.items():
        if key.endswith("_display"):
            setattr(out, f"get_{key}", lambda value=value: value)
    return out


class Command(BaseCommand):
    help = ("Time the PDF rendering of a full validation report (figures to SVG with kaleido, layout with "
            "WeasyPrint). The run itself is executed once, untimed, as bench_validation does; the report's "
            "passport and version are in-memory stand-ins, so no database is needed.")

    def add_arguments(self, parser):
        parser.add_argument("--rows", type=int, default=100_000)
        parser.add_argument("--reference-rows", type=int, default=100_000)
        parser.add_argument("--trees", type=int, default=100)
        parser.add_argument("--depth", type=int, default=6)
        parser.add_argument("--repeat", type=int, default=3)
        parser.add_argument("--budget", type=float, default=10.0, help="Seconds a PDF may take (median).")
        parser.add_argument("--out", help="Write the last PDF here.")

    def handle(self, *args, **o):
        os.environ["DO_NOT_TRACK"] = "1"
        options = {"rows": o["rows"], "reference_rows": o["reference_rows"], "features": 30, "trees": o["trees"],
                   "depth": o["depth"], "train_rows": 20_000, "tier": 1}
        with tempfile.TemporaryDirectory(prefix="bench-report-") as folder:
            bench = BenchValidation(stdout=self.stdout, stderr=self.stderr)
            spec = bench._prepare(Path(folder), options)
            began = time.perf_counter()
            output = execute(spec)
            self.stdout.write(f"run executed in {time.perf_counter() - began:.1f} s (not timed)")
        context = self._context(output, o, spec.thresholds)
        html_s, pdf_s, size = [], [], 0
        for i in range(o["repeat"]):
            began = time.perf_counter()
            html = report.render_html(dict(context))
            html_s.append(time.perf_counter() - began)
            began = time.perf_counter()
            pdf = report.render_pdf({**context, "sections": report.run_display.sections(output.results)[0]},
                                    report_sha256="0" * 64)
            pdf_s.append(time.perf_counter() - began)
            size = len(pdf)
            self.stdout.write(f"render {i + 1}: HTML {html_s[-1]:.2f} s ({len(html):,} bytes), "
                              f"PDF {pdf_s[-1]:.2f} s ({size:,} bytes)")
        if o["out"]:
            Path(o["out"]).write_bytes(pdf)
        median = statistics.median(pdf_s)
        verdict = "within" if median <= o["budget"] else "OVER"
        self.stdout.write(f"PDF median of {len(pdf_s)}: {median:.2f} s ({verdict} the {o['budget']:.0f} s budget; "
                          f"{os.cpu_count()} CPUs; the first render includes starting kaleido's renderer)")
        self.stdout.write(json.dumps({"pdf_median_s": round(median, 3), "pdf_s": [round(v, 3) for v in pdf_s],
                                      "html_s": [round(v, 3) for v in html_s], "pdf_bytes": size,
                                      "figures": sum(len(s.figures) for s in context["sections"])}))

    def _context(self, output, o, thresholds: dict) -> dict:
        passport = _choices(key="bench-credit", name="Benchmark credit model", purpose="Benchmark report.",
                            risk_tier=1, risk_tier_display="Tier 1 (high)", business_owner="owner",
                            technical_owner="dev", development_team="Bench team", business_unit="Retail")
        version = _choices(number=2, sha256=output.record.get("digests", {}).get("artifact", "0" * 64),
                           size=1_000_000, opset=17, producer_name="skl2onnx", producer_version="", passport=passport,
                           change_description="", state_display="In validation")
        run = _choices(pk=1, outcome=output.results["summary"]["outcome"], depth_display="Full", reference=
                       SimpleNamespace(name="reference.csv", row_count=o["reference_rows"], sha256="1" * 64),
                       validation=SimpleNamespace(name="validation.csv", row_count=o["rows"], sha256="2" * 64),
                       target="default", segment_column="region", champion=SimpleNamespace(number=1, sha256="3" * 64),
                       seed=7, digests={"results": "4" * 64}, worker="bench", started_at=datetime.now(UTC),
                       duration_seconds=None, attempts=1, results=output.results, environment=output.record,
                       version=version, thresholds=thresholds)
        return report.build_context(run=run, version=version, passport=passport, findings=[], signoffs=[],
                                    conclusion="Fit for purpose.", issued_by="validator", issued_at=datetime.now(UTC))
