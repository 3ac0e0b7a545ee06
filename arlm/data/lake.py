"""The lake: corpus versions as zstd Parquet folders, written in bounded row groups, read as streams.

Layout of ``home/lake/<id>/``: ``part-<split>-<NNNNN>.parquet`` (one per work unit and split,
row groups of at most ~32 MB of text; columns ``doc_id``, ``source``, ``uri``, ``text``,
``n_bytes``, ``split``), ``corpus.json`` (spec, config, stats, files, Python
version) and ``sources.json`` (every input file and what became of it).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from arlm.data.parts import parquet_schema  # noqa: F401  (the lake's schema, re-exported)
from arlm.errors import ConfigError, NotFoundError

SPLITS = ("train", "val", "test")
LAKE_FORMAT = 1


@dataclass
class CorpusVersion:
    """A written corpus version.

    ``stats["splits"][split]`` holds ``n_docs`` and ``n_bytes`` (UTF-8 bytes of the texts: the
    denominator of bits per byte); ``stats["cleaning"]`` the cleaning report. ``files`` maps each
    split to its Parquet files in read order. ``reused`` is True when ``ingest`` found this version
    already written and did no work.
    """

    id: str
    path: Path
    spec: str
    stats: dict
    files: dict[str, list[Path]]
    python_version: str | None = None
    config: dict = field(default_factory=dict)
    reused: bool = False

    def n_bytes(self, split: str) -> int:
        return int(self.stats["splits"].get(split, {}).get("n_bytes", 0))

    def n_docs(self, split: str) -> int:
        return int(self.stats["splits"].get(split, {}).get("n_docs", 0))


def load_corpus_version(home, version_id: str) -> CorpusVersion:
    """Open a written version by id (``home`` is a ``Home`` or a path)."""
    from arlm.home import Home, get_home

    home = home if isinstance(home, Home) else get_home(home)
    folder = home.lake / version_id
    meta_path = folder / "corpus.json"
    if not meta_path.exists():
        raise NotFoundError(f"corpus version {version_id!r} not found in {home.lake}")
    with open(meta_path, encoding="utf-8") as f:
        meta = json.load(f)
    return CorpusVersion(
        id=meta["id"],
        path=folder,
        spec=meta["spec"],
        stats=meta["stats"],
        files={s: [folder / name for name in meta["files"].get(s, [])] for s in SPLITS},
        python_version=meta.get("python_version"),
        config=meta.get("config", {}),
    )


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise ConfigError(f"unknown split {split!r} (expected one of {', '.join(SPLITS)})")


def iter_texts(cv: CorpusVersion, split: str, batch_size: int = 1024) -> Iterator[list[str]]:
    """Texts of one split in a stable order, ``batch_size`` at a time, without loading the split."""
    import pyarrow.parquet as pq

    _check_split(split)
    for path in cv.files.get(split, []):
        pf = pq.ParquetFile(path)
        for batch in pf.iter_batches(batch_size=batch_size, columns=["text"]):
            yield batch.column(0).to_pylist()


def split_bytes(cv: CorpusVersion, split: str, max_bytes: int | None = None) -> bytes:
    """A split's texts as UTF-8, documents separated by a newline (for compression baselines).

    ``max_bytes`` caps the result (a prefix), so callers can bound memory on a large corpus.
    """
    out = bytearray()
    for batch in iter_texts(cv, split):
        for text in batch:
            out += text.encode("utf-8", errors="surrogatepass")
            out += b"\n"
            if max_bytes is not None and len(out) >= max_bytes:
                return bytes(out[:max_bytes])
    return bytes(out)
