"""Corpus ingestion: sources, cleaning, deterministic splits and the Parquet lake.

Public API (see docs/architecture.md)::

    cv = ingest(IngestConfig(corpus="stdlib-docs"), home)   # -> CorpusVersion (cv.reused on a no-op)
    cv = load_corpus_version(home, cv.id)
    for batch in iter_texts(cv, "train", batch_size=1024): ...
    cv.stats["splits"]["val"]["n_bytes"]                     # also cv.n_bytes("val")
    report_markdown(cv)                                      # the cleaning report, for a Prefect artifact

Nothing here imports Prefect or Ray (Ray only when a cluster is already connected or named).
Names are imported on first use, so a reader process (which imports ``arlm.data.readers``)
does not pay for pydantic and the rest at start-up.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

_EXPORTS = {
    "IngestConfig": "arlm.data.config",
    "ingest": "arlm.data.ingest",
    "CorpusVersion": "arlm.data.lake",
    "load_corpus_version": "arlm.data.lake",
    "iter_texts": "arlm.data.lake",
    "split_bytes": "arlm.data.lake",
    "SPLITS": "arlm.data.lake",
    "report_markdown": "arlm.data.report",
    "report_text": "arlm.data.report",
}

__all__ = sorted(_EXPORTS)

if TYPE_CHECKING:  # pragma: no cover
    from arlm.data.config import IngestConfig
    from arlm.data.ingest import ingest
    from arlm.data.lake import SPLITS, CorpusVersion, iter_texts, load_corpus_version, split_bytes
    from arlm.data.report import report_markdown, report_text


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'arlm.data' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
