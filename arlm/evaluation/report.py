"""The evaluation report: a text table for the terminal, JSON and HTML for MLflow artifacts."""

from __future__ import annotations

import html
from typing import Any

BASELINES = ("unigram", "gzip", "bzip2", "xz")


def format_report(
    metrics: dict[str, Any], title: str = "evaluation", samples: list[dict[str, str]] | None = None
) -> str:
    """Model figures, then bits per byte beside the baselines present, then sample continuations."""
    lines = [
        f"{title}",
        f"  tokens {int(metrics['n_tokens']):,}  bytes {int(metrics['n_bytes']):,}",
        f"  loss {metrics['loss']:.4f} nats/token   perplexity {metrics['perplexity']:.2f}   "
        f"accuracy {metrics['accuracy']:.3f}",
        "",
        f"  {'bits per byte':<16}{'value':>8}",
        f"  {'model':<16}{metrics['bits_per_byte']:>8.3f}",
    ]
    for name in BASELINES:
        key = f"{name}_bits_per_byte"
        if key in metrics:
            lines.append(f"  {name:<16}{metrics[key]:>8.3f}")
    for s in samples or []:
        lines += ["", f"  > {s['prompt']!r}", f"    {s['continuation']!r}"]
    return "\n".join(lines)


def report_html(report: dict[str, Any]) -> str:
    """A standalone HTML page of ``{"title", "metrics", "samples"}``."""
    m = report["metrics"]
    rows = "".join(
        f"<tr><td>{html.escape(str(k))}</td><td>{v:.6g}</td></tr>"
        if isinstance(v, float)
        else f"<tr><td>{html.escape(str(k))}</td><td>{html.escape(str(v))}</td></tr>"
        for k, v in sorted(m.items())
    )
    samples = "".join(
        f"<li><b>{html.escape(s['prompt'])}</b>{html.escape(s['continuation'])}</li>" for s in report.get("samples", [])
    )
    title = html.escape(report.get("title", "evaluation"))
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title></head><body>"
        f"<h1>{title}</h1><table border='1'><tr><th>metric</th><th>value</th></tr>{rows}</table>"
        f"<h2>Sample continuations</h2><ul>{samples}</ul></body></html>"
    )
