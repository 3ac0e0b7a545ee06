"""The translation pipeline's data stages: pairs SPEC -> corpus version -> tokenizer(s) -> pair token
dataset, each recorded in the catalog as ``arlm.stages`` records the language-model ones.

Like ``arlm.stages``, each stage takes ids and a ``Home``, returns a JSON-able dict, reuses what
exists (a rerun does no work) and records its artifact only once it is complete, so bad input
changes neither the home's folders nor the catalog. Nothing here imports Prefect.

    ingest_pairs_stage(PairIngestConfig, home) -> {corpus_id, path, reused, stats, src_lang, tgt_lang}
    pair_tokenizer_stage(TokenizerConfig, corpus_id, home, tokenizer_sides="joint"|"separate")
        -> {src_tokenizer_id, tokenizer_id, vocab_size, src_vocab_size, joint, reused, ...}
    tokenize_pairs_stage(corpus_id, src_tokenizer_id, tokenizer_id, home) -> {dataset_id, path, reused, ...}
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from arlm.errors import ConfigError
from arlm.home import Home
from arlm.translation.pairs import SPLITS

Progress = Callable[[str], None]
TOKENIZER_SIDES = ("joint", "separate")


def _say(progress: Progress | None, msg: str) -> None:
    (progress or (lambda m: print(m, file=sys.stderr, flush=True)))(msg)


def _catalog(home: Home):
    from arlm.catalog import Catalog

    return Catalog(home.catalog_path)


def _pair_corpus(home: Home, corpus_id: str):
    from arlm.data import load_corpus_version
    from arlm.translation.lake import require_pair_corpus

    cv = load_corpus_version(home, corpus_id)
    require_pair_corpus(cv)
    return cv


def ingest_pairs_stage(cfg, home: Home, progress: Progress | None = None) -> dict[str, Any]:
    """Parallel corpus SPEC -> corpus version (pairs as Parquet in the lake + catalog rows)."""
    from arlm.translation.lake import ingest_pairs

    cv = ingest_pairs(cfg, home, progress=lambda m: _say(progress, m))
    _catalog(home).record_corpus_version(cv)
    src_lang, tgt_lang = cv.config.get("src_lang"), cv.config.get("tgt_lang")
    verb = "unchanged, reusing" if cv.reused else "ingested"
    splits = "; ".join(_split_line(s, cv.stats.get("splits", {}).get(s, {})) for s in SPLITS)
    _say(progress, f"[ingest] {verb} {src_lang}->{tgt_lang} corpus version {cv.id} ({splits})")
    return {
        "corpus_id": cv.id,
        "path": str(cv.path),
        "reused": bool(cv.reused),
        "stats": cv.stats,
        "src_lang": src_lang,
        "tgt_lang": tgt_lang,
    }


def _split_line(split: str, v: dict) -> str:
    n_docs = v.get("n_documents", 0)
    return f"{split}: {v.get('n_pairs', v.get('n_docs', 0)):,} pairs" + (
        f" ({n_docs} document{'s' if n_docs != 1 else ''})" if n_docs else ""
    )


def pair_tokenizer_stage(
    tok_cfg, corpus_id: str, home: Home, tokenizer_sides: str = "joint", progress: Progress | None = None
) -> dict[str, Any]:
    """Pair corpus version -> its tokenizer(s), trained on the train split: ``joint`` one over both
    languages (the ``text`` column: source and target), or ``separate`` ones for the source (column
    ``src``) and the target (column ``tgt``). ``tokenizer_id`` is the target's (the joint one)."""
    from arlm.tokenizers import build_tokenizer

    if tokenizer_sides not in TOKENIZER_SIDES:
        raise ConfigError(f"tokenizer_sides must be one of {', '.join(TOKENIZER_SIDES)}, got {tokenizer_sides!r}")
    if tok_cfg.column != "text":
        raise ConfigError(
            f"the tokenizer's column is chosen by tokenizer_sides (joint: text, separate: src and tgt), "
            f"got column={tok_cfg.column!r}"
        )
    cv = _pair_corpus(home, corpus_id)
    if tokenizer_sides == "joint":
        configs = {"joint": tok_cfg}
    else:
        configs = {side: tok_cfg.model_copy(update={"column": side}) for side in ("src", "tgt")}
    cat = _catalog(home)
    arts = {}
    for side, cfg in configs.items():
        art = build_tokenizer(cfg, cv, home.tokenizers)
        cat.record_tokenizer(art.id, corpus_id, art.kind, art.vocab_size, art.path, art.meta)
        verb = "reusing" if art.reused else "built"
        what = "joint" if side == "joint" else f"{cv.config.get(side + '_lang') or side} ({side})"
        _say(progress, f"[tokenizer] {verb} {what} {art.kind} tokenizer {art.id} (vocab {art.vocab_size})")
        arts[side] = art
    src, tgt = (arts["joint"], arts["joint"]) if tokenizer_sides == "joint" else (arts["src"], arts["tgt"])
    return {
        "src_tokenizer_id": src.id,
        "tokenizer_id": tgt.id,
        "vocab_size": tgt.vocab_size,
        "src_vocab_size": src.vocab_size,
        "joint": tokenizer_sides == "joint",
        "src_path": str(src.path),
        "path": str(tgt.path),
        "reused": all(a.reused for a in arts.values()),
    }


def tokenize_pairs_stage(
    corpus_id: str, src_tokenizer_id: str, tokenizer_id: str, home: Home, progress: Progress | None = None
) -> dict[str, Any]:
    """Pair corpus version + source and target tokenizers -> pair token dataset (+ catalog row, whose
    ``tokenizer_id`` is the target's; the manifest in ``meta`` names the source's)."""
    from arlm.tokenizers import TokenizerArtifact
    from arlm.translation.lake import tokenize_pairs

    cv = _pair_corpus(home, corpus_id)
    src_art = TokenizerArtifact.open(home.tokenizers / src_tokenizer_id)
    tgt_art = src_art if tokenizer_id == src_tokenizer_id else TokenizerArtifact.open(home.tokenizers / tokenizer_id)
    ds = tokenize_pairs(cv, src_art, tgt_art, home.tokens)
    _catalog(home).record_token_dataset(ds.id, ds.tokenizer_id, corpus_id, ds.path, ds.manifest)
    verb = "reusing" if ds.reused else "wrote"
    counts = ", ".join(
        f"{s}: {ds.n_pairs(s):,} pairs, {ds.n_tokens(s):,} target tokens" for s in SPLITS if s in ds.splits
    )
    _say(progress, f"[tokenize] {verb} pair token dataset {ds.id} ({counts})")
    return {
        "dataset_id": ds.id,
        "path": str(ds.path),
        "reused": bool(ds.reused),
        "src_tokenizer_id": ds.src_tokenizer_id,
        "tokenizer_id": ds.tokenizer_id,
    }


__all__ = ["ingest_pairs_stage", "pair_tokenizer_stage", "tokenize_pairs_stage", "TOKENIZER_SIDES"]
