"""The cleaning report: what was kept, what was skipped and why, as a dict, text and markdown.

The dict lives in ``corpus.json`` (``stats["cleaning"]``) and in the catalog; ``report_text``
is what ``arlm ingest`` prints and ``report_markdown`` is the Prefect artifact of the flow.
"""

from __future__ import annotations

from dataclasses import asdict

from arlm.data.cleaning import Policy, Tally

MAX_LISTED = 20


def build_report(tally: Tally, outcomes: list, n_dupes: int, moved: int, policy: Policy) -> dict:
    skipped = {k.split(":", 1)[1]: v for k, v in sorted(tally.counts.items()) if k.startswith("skipped:")}
    files_skipped = [{"uri": o.uri, "reason": o.reason} for o in outcomes if not o.n_docs]
    return {
        "policy": asdict(policy),
        "files_read": len(outcomes),
        "files_with_documents": sum(1 for o in outcomes if o.n_docs),
        "files_skipped": len(files_skipped),
        "documents_kept": tally.counts.get("kept-documents", 0),
        "documents_segmented": tally.counts.get("segmented-documents", 0),
        "utf8_ok": tally.counts.get("utf8:ok", 0),
        "utf8_replaced": tally.counts.get("utf8:replaced", 0),
        "duplicates_dropped": n_dupes,
        "moved_to_empty_heldout_split": moved,
        "skipped": skipped,
        "skipped_examples": [{"uri": u, "reason": r} for u, r in tally.skipped],
        "files_without_documents": files_skipped[:1000],
    }


def _rows(cv) -> list[tuple[str, str]]:
    stats = cv.stats
    rep = stats["cleaning"]
    rows = [("files read", f"{rep['files_read']:,} ({rep['files_with_documents']:,} gave documents)"),
            ("documents kept", f"{rep['documents_kept']:,} ({rep['documents_segmented']:,} cut into segments)"),
            ("UTF-8", f"{rep['utf8_ok']:,} ok, {rep['utf8_replaced']:,} with replacements")]
    for reason, n in rep["skipped"].items():
        rows.append((f"skipped: {reason}", f"{n:,}"))
    for split in ("train", "val", "test"):
        s = stats["splits"][split]
        rows.append((f"split {split}", f"{s['n_docs']:,} docs, {s['n_bytes']:,} bytes"))
    return rows


def report_text(cv) -> str:
    """Plain text for the terminal: the version, then one line per count."""
    rows = _rows(cv)
    width = max(len(k) for k, _ in rows)
    lines = [f"corpus version {cv.id}  ({cv.spec})"]
    lines += [f"  {k.ljust(width)}  {v}" for k, v in rows]
    examples = cv.stats["cleaning"]["skipped_examples"][:MAX_LISTED]
    if examples:
        lines.append("  skipped inputs (first %d):" % len(examples))
        lines += [f"    {e['uri']}: {e['reason']}" for e in examples]
    return "\n".join(lines)


def report_markdown(cv) -> str:
    """Markdown for a Prefect artifact (``create_markdown_artifact``)."""
    lines = [f"### Corpus version `{cv.id}`", "", f"Spec: `{cv.spec}`"
             + (f", Python {cv.python_version}" if cv.python_version else "")
             + (" (reused: nothing changed)" if cv.reused else ""), "",
             "| | |", "| --- | --- |"]
    lines += [f"| {k} | {v} |" for k, v in _rows(cv)]
    examples = cv.stats["cleaning"]["skipped_examples"][:MAX_LISTED]
    if examples:
        lines += ["", "| skipped input | reason |", "| --- | --- |"]
        lines += [f"| `{e['uri']}` | {e['reason']} |" for e in examples]
    return "\n".join(lines) + "\n"
