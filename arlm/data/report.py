"""The cleaning report: what was kept, what was skipped and why, as a dict, text and markdown.

The dict lives in ``corpus.json`` (``stats["cleaning"]``) and in the catalog; ``report_text``
is what ``arlm ingest`` prints and ``report_markdown`` is the Prefect artifact of the flow.
"""

from __future__ import annotations

from dataclasses import asdict

from arlm.data.cleaning import Policy, Tally

MAX_LISTED = 20


def build_report(tally: Tally, outcomes: list, n_dupes: int, moved: int, policy: Policy) -> dict:
    """The cleaning report of one ingest.

    Document counts add up: ``documents_read`` passed cleaning, ``documents_segmented`` of them
    were cut into pieces, giving ``documents_emitted``; ``duplicates_dropped`` of those were exact
    copies, which leaves ``documents_kept`` = the documents in the splits.
    """
    skipped = {k.split(":", 1)[1]: v for k, v in sorted(tally.counts.items()) if k.startswith("skipped:")}
    files_skipped = [{"uri": o.uri, "reason": o.reason} for o in outcomes if not o.n_docs]
    replaced = [o.uri for o in outcomes if getattr(o, "replaced", False)]
    encodings: dict[str, int] = {}
    for o in outcomes:
        if getattr(o, "encoding", ""):
            encodings[o.encoding] = encodings.get(o.encoding, 0) + 1
    emitted = tally.counts.get("emitted-documents", 0)
    return {
        "policy": asdict(policy),
        "files_read": len(outcomes),
        "files_with_documents": sum(1 for o in outcomes if o.n_docs),
        "files_skipped": len(files_skipped),
        "documents_read": tally.counts.get("kept-documents", 0),
        "documents_segmented": tally.counts.get("segmented-documents", 0),
        "documents_emitted": emitted,
        "documents_kept": emitted - n_dupes,
        "utf8_ok": tally.counts.get("utf8:ok", 0),
        "utf8_replaced": tally.counts.get("utf8:replaced", 0),
        "encodings": dict(sorted(encodings.items(), key=lambda kv: -kv[1])),
        "files_with_replacements": len(replaced),
        "replaced_files": replaced[:1000],
        "duplicates_dropped": n_dupes,
        "moved_to_empty_heldout_split": moved,
        "skipped": skipped,
        "skipped_examples": [{"uri": u, "reason": r} for u, r in tally.skipped],
        "files_without_documents": files_skipped[:1000],
    }


def replaced_files_line(rep: dict, limit: int = MAX_LISTED) -> str:
    """One line naming the files whose bytes needed U+FFFD ("" when none did)."""
    n = rep.get("files_with_replacements", 0)
    if not n:
        return ""
    names = rep.get("replaced_files", [])[:limit]
    more = f" and {n - len(names):,} more" if n > len(names) else ""
    encs = ", ".join(rep.get("encodings", {})) or "utf-8"
    return (
        f"{n:,} file{'s' if n != 1 else ''} had bytes not valid in their encoding ({encs}), "
        f"replaced by U+FFFD: {', '.join(names)}{more} (see --encoding NAME|auto, "
        "--encoding-errors strict|skip)"
    )


def _rows(cv) -> list[tuple[str, str]]:
    stats = cv.stats
    rep = stats["cleaning"]
    kept = rep.get("documents_kept", 0)
    if "documents_emitted" in rep:  # versions written before the counts were made to add up
        detail = f"{rep['documents_read']:,} read"
        if rep["documents_segmented"]:
            detail += f", {rep['documents_segmented']:,} cut into segments ({rep['documents_emitted']:,} pieces)"
        if rep["duplicates_dropped"]:
            n = rep["duplicates_dropped"]
            detail += f", {n:,} duplicate{'s' if n != 1 else ''} dropped"
        docs = f"{kept:,} in the splits ({detail})"
    else:
        docs = f"{kept:,} ({rep['documents_segmented']:,} cut into segments)"
    encs = ", ".join(f"{k} {v:,}" for k, v in rep.get("encodings", {}).items())
    rows = [
        ("files read", f"{rep['files_read']:,} ({rep['files_with_documents']:,} gave documents)"),
        ("documents kept", docs),
        (
            "decoding",
            f"{rep['utf8_ok']:,} ok, {rep['utf8_replaced']:,} with replacements"
            + (f" (files by encoding: {encs})" if encs else ""),
        ),
    ]
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
    rep = cv.stats["cleaning"]
    replaced = rep.get("replaced_files", [])
    if replaced:
        n = rep["files_with_replacements"]
        lines.append(f"  files with U+FFFD replacements ({min(n, MAX_LISTED)} of {n:,}):")
        lines += [f"    {u}" for u in replaced[:MAX_LISTED]]
    examples = rep["skipped_examples"][:MAX_LISTED]
    if examples:
        lines.append(f"  skipped inputs (first {len(examples)}):")
        lines += [f"    {e['uri']}: {e['reason']}" for e in examples]
    return "\n".join(lines)


def report_markdown(cv) -> str:
    """Markdown for a Prefect artifact (``create_markdown_artifact``)."""
    lines = [
        f"### Corpus version `{cv.id}`",
        "",
        f"Spec: `{cv.spec}`"
        + (f", Python {cv.python_version}" if cv.python_version else "")
        + (" (reused: nothing changed)" if cv.reused else ""),
        "",
        "| | |",
        "| --- | --- |",
    ]
    lines += [f"| {k} | {v} |" for k, v in _rows(cv)]
    replaced = cv.stats["cleaning"].get("replaced_files", [])
    if replaced:
        lines += [
            "",
            f"Files with U+FFFD replacements ({cv.stats['cleaning']['files_with_replacements']:,}): "
            + ", ".join(f"`{u}`" for u in replaced[:MAX_LISTED]),
        ]
    examples = cv.stats["cleaning"]["skipped_examples"][:MAX_LISTED]
    if examples:
        lines += ["", "| skipped input | reason |", "| --- | --- |"]
        lines += [f"| `{e['uri']}` | {e['reason']} |" for e in examples]
    return "\n".join(lines) + "\n"
