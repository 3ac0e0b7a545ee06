"""A tokenizer version: ``build_tokenizer`` trains (or reuses) ``out_root/<id>/``.

The id is ``content_hash(corpus_version.id, cfg.identity())``; the folder holds tokenizer.json (HF format)
and tokenizer_meta.json (kind, vocab size, special ids, corpus id, config, and tokens-per-byte on
every split of the corpus' ``cfg.column``, measured with the fast encoder; ``<|endoftext|>``
separators are not counted).
"""

from __future__ import annotations

import platform
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from arlm.errors import DataError, NotFoundError
from arlm.tokenizers.config import EOT, PAD, TokenizerConfig
from arlm.tokenizers.corpus_io import TEXT_COLUMN, CorpusLike, SplitTexts, check_column, iter_texts, split_names
from arlm.tokenizers.tokenizer import META_JSON, TOKENIZER_JSON, Tokenizer, load_tokenizer
from arlm.versioning import atomic_dir, atomic_write_bytes, atomic_write_json, clean_stale_tmp, content_hash, read_json

META_FORMAT = 1
STALE_TMP_S = 3600.0  # a writer's temporary folder older than this was left by a killed process


@dataclass(frozen=True)
class TokenizerArtifact:
    id: str
    path: Path
    kind: str
    vocab_size: int
    meta: dict[str, Any] = field(default_factory=dict)
    reused: bool = False

    @property
    def eot_id(self) -> int:
        return int(self.meta["eot_id"])

    @property
    def pad_id(self) -> int:
        return int(self.meta["pad_id"])

    @property
    def corpus_id(self) -> str:
        return str(self.meta.get("corpus_id", ""))

    @property
    def tokens_per_byte(self) -> dict[str, float]:
        return dict(self.meta.get("tokens_per_byte", {}))

    def load(self) -> Tokenizer:
        return load_tokenizer(self.path)

    @classmethod
    def open(cls, path: str | Path, reused: bool = True) -> TokenizerArtifact:
        """An existing tokenizer folder (``home/tokenizers/<id>``)."""
        path = Path(path)
        meta_path = path / META_JSON
        if not meta_path.exists() or not (path / TOKENIZER_JSON).exists():
            raise NotFoundError(f"{path}: not a tokenizer folder (needs {TOKENIZER_JSON} and {META_JSON})")
        meta = read_json(meta_path)
        return cls(
            id=meta.get("id", path.name),
            path=path,
            kind=meta["kind"],
            vocab_size=int(meta["vocab_size"]),
            meta=meta,
            reused=reused,
        )


def tokenizer_id(cfg: TokenizerConfig, corpus: CorpusLike) -> str:
    return content_hash(corpus.id, cfg.identity())


def measure_splits(tok: Tokenizer, corpus: CorpusLike, column: str = TEXT_COLUMN) -> dict[str, dict[str, int]]:
    """Tokens (no separators) and UTF-8 bytes of every split, with the parallel fast encoder."""
    from arlm.tokenizers.parallel import encode_parallel

    out: dict[str, dict[str, int]] = {}
    for split in split_names(corpus):
        texts = SplitTexts(corpus, split, column=column)
        n_tokens = sum(len(ids) for ids, _ in encode_parallel(tok, texts, append_eot=False))
        out[split] = {"n_tokens": int(n_tokens), "n_bytes": int(texts.n_bytes)}
    return out


def build_tokenizer(cfg: TokenizerConfig, corpus_version: CorpusLike, out_root: Path) -> TokenizerArtifact:
    """Train ``cfg.kind`` on the corpus' ``cfg.train_split`` (its ``cfg.column``) into ``out_root/<id>``;
    reuse it if present."""
    import tokenizers
    from arlm.tokenizers.kinds import train_hf_tokenizer

    out_root = Path(out_root)
    tid = tokenizer_id(cfg, corpus_version)
    final = out_root / tid
    if (final / META_JSON).exists():
        return TokenizerArtifact.open(final, reused=True)
    clean_stale_tmp(out_root, max_age_s=STALE_TMP_S)
    if cfg.kind != "bytes" and cfg.train_split not in corpus_version.files:
        raise DataError(
            f"corpus version {corpus_version.id} has no split '{cfg.train_split}' to train the "
            f"tokenizer on (splits: {', '.join(corpus_version.files) or 'none'})"
        )
    if cfg.column != TEXT_COLUMN:  # a corpus without that column fails here, before any training
        check_column(corpus_version, cfg.column)
    texts = (
        iter_texts(corpus_version, cfg.train_split, cfg.max_train_bytes, column=cfg.column)
        if cfg.kind != "bytes"
        else iter(())
    )
    column = "" if cfg.column == TEXT_COLUMN else f" column '{cfg.column}'"
    hf = train_hf_tokenizer(cfg, texts, f"corpus version {corpus_version.id} split '{cfg.train_split}'{column}")
    tok = Tokenizer(hf, kind=cfg.kind)
    stats = measure_splits(tok, corpus_version, column=cfg.column)
    meta = {
        "format": META_FORMAT,
        "id": tid,
        "kind": cfg.kind,
        "vocab_size": tok.vocab_size,
        "eot_id": tok.eot_id,
        "pad_id": tok.pad_id,
        "special_tokens": {EOT: tok.eot_id, PAD: tok.pad_id},
        "corpus_id": corpus_version.id,
        "config": cfg.model_dump(),
        "tokens_per_byte": {s: (v["n_tokens"] / v["n_bytes"] if v["n_bytes"] else 0.0) for s, v in stats.items()},
        "split_stats": stats,
        "encoder": tok.encoder.name,
        "special_text_policy": "special-token strings inside text are encoded as plain text",
        "tokenizers_version": tokenizers.__version__,
        "python": platform.python_version(),
    }
    with atomic_dir(final) as tmp:
        atomic_write_bytes(tmp / TOKENIZER_JSON, hf.to_str().encode("utf-8"))
        atomic_write_json(tmp / META_JSON, meta)
    return TokenizerArtifact.open(final, reused=False)
