"""Corpus ingestion: sources, cleaning, deterministic splits and the Parquet lake.

Public API (see docs/architecture.md)::

    cv = ingest(IngestConfig(corpus="stdlib-docs"), home)   # -> CorpusVersion (cv.reused on a no-op)
    cv = load_corpus_version(home, cv.id)
    for batch in iter_texts(cv, "train", batch_size=1024): ...
    cv.stats["splits"]["val"]["n_bytes"]                     # also cv.n_bytes("val")
    report_markdown(cv)                                      # the cleaning report, for a Prefect artifact

Nothing here imports Prefect or Ray (Ray only when a cluster is already connected or named).
"""

from arlm.data.config import IngestConfig
from arlm.data.ingest import ingest
from arlm.data.lake import SPLITS, CorpusVersion, iter_texts, load_corpus_version, split_bytes
from arlm.data.report import report_markdown, report_text

__all__ = ["IngestConfig", "ingest", "CorpusVersion", "load_corpus_version", "iter_texts",
           "split_bytes", "report_markdown", "report_text", "SPLITS"]
