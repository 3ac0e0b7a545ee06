"""Plain-text rendering of catalog rows and lineage for the terminal."""

from __future__ import annotations

from typing import Any


def _cell(v: Any, width: int = 60) -> str:
    s = "" if v is None else str(v)
    s = s.replace("\n", " ")
    return s if len(s) <= width else s[: width - 1] + "…"


def format_table(rows: list[dict], columns: list[str] | None = None) -> str:
    """An aligned text table of ``rows`` (dicts); '(none)' when empty."""
    if not rows:
        return "(none)"
    cols = columns or list(rows[0].keys())
    cells = [[_cell(r.get(c)) for c in cols] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(cols)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(cols, widths)).rstrip(), "  ".join("-" * w for w in widths)]
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip() for row in cells]
    return "\n".join(lines)


def format_lineage(lin: dict, indent: str = "") -> str:
    """The chain from model version down to source files, one step per paragraph; a fine-tuned
    version's base model follows, indented, with its own chain."""
    m = lin["model"]
    out = [f"model      {m['name']} version {m['version']}  ({m['uri']})"]
    origin = lin.get("origin")
    if origin and origin.get("origin") == "import":
        sha = f"  weights sha256 {origin['source_sha256'][:16]}..." if origin.get("source_sha256") else ""
        out.append(f"origin     imported from {origin.get('source')}{sha}")
        tok = lin.get("tokenizer")
        out.append(
            f"tokenizer  {tok['id']}  kind={tok['kind']} vocab={tok['vocab_size']} (the checkpoint's)"
            if tok
            else "tokenizer  (not recorded)"
        )
        return "\n".join(indent + line for line in out)
    if origin and origin.get("origin") == "finetune":
        details = origin.get("details") or {}
        how = f"LoRA rank {details.get('lora_rank')}" if origin.get("method") == "lora" else "all weights"
        base = (
            f"models:/{origin['base_name']}/{origin['base_version']}"
            if origin.get("base_name")
            else origin.get("source")
        )
        out.append(f"origin     fine-tuned ({how}) from {base}")
    run = lin.get("run")
    out.append(
        f"run        {run['run_id']}  spec={run['model_spec']}  mlflow_run={run['mlflow_run_id']}"
        if run
        else f"run        {m['run_id']} (not recorded)"
    )
    ds = lin.get("token_dataset")
    out.append(f"tokens     {ds['id']}  {ds['path']}" if ds else "tokens     (not recorded)")
    tok = lin.get("tokenizer")
    out.append(
        f"tokenizer  {tok['id']}  kind={tok['kind']} vocab={tok['vocab_size']}" if tok else "tokenizer  (not recorded)"
    )
    cv = lin.get("corpus_version")
    if cv:
        py = f"  python={cv['python_version']}" if cv.get("python_version") else ""
        config = cv.get("config") or {}
        if config.get("task") == "translation":
            langs = f"  {config.get('src_lang')}->{config.get('tgt_lang')}"
            out.append(f"corpus     {cv['id']}  {cv['spec']}{langs}  {cv['n_docs']:,} pairs, {cv['n_bytes']:,} bytes")
        else:
            out.append(f"corpus     {cv['id']}  {cv['spec']}  {cv['n_docs']:,} docs, {cv['n_bytes']:,} bytes{py}")
        files = lin.get("source_files", [])
        out.append(
            f"sources    {lin.get('n_source_files', len(files)):,} files"
            + (f" (first {len(files)}):" if len(files) < lin.get("n_source_files", 0) else ":")
        )
        for f in files:
            status = "" if f["status"] == "kept" else f"  [skipped: {f['reason']}]"
            out.append(f"  {f['uri']}  {f['size']:,} bytes{status}")
    else:
        out.append("corpus     (not recorded)")
    for e in lin.get("evaluations", []):
        out.append(f"evaluation {e['split']}: " + ", ".join(f"{k}={v}" for k, v in sorted(e["metrics"].items())))
    text = "\n".join(indent + line for line in out)
    if lin.get("base"):
        text += f"\n{indent}base model:\n" + format_lineage(lin["base"], indent + "  ")
    return text
