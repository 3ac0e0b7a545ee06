"""Reading a corpus version's text without depending on ``arlm.data``.

Any object with ``.id`` and ``.files`` (split -> zstd Parquet files with a ``text`` column) is a
corpus here; text is streamed in record batches so a corpus never has to fit in memory. ``column``
reads another string column instead (a translation corpus' ``src`` or ``tgt``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Protocol

from arlm.errors import DataError

TEXT_COLUMN = "text"


class CorpusLike(Protocol):
    """The part of ``arlm.data.CorpusVersion`` that tokenizers use."""

    id: str
    files: Mapping[str, Sequence[Path]]


def split_names(corpus: CorpusLike) -> list[str]:
    return list(corpus.files.keys())


def _parquet_file(path: Path, column: str = TEXT_COLUMN):
    import pyarrow.parquet as pq

    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: corpus file is missing (was the corpus version deleted or moved?)")
    try:
        pf = pq.ParquetFile(path)
    except Exception as e:  # pyarrow raises several types for a bad file
        raise DataError(f"{path}: not a readable Parquet file ({e})") from None
    if column not in pf.schema_arrow.names:
        hint = "" if column == TEXT_COLUMN else "; the src and tgt columns exist in translation (pair) corpora only"
        raise DataError(f"{path}: no '{column}' column (columns: {', '.join(pf.schema_arrow.names)}){hint}")
    return pf


def check_column(corpus: CorpusLike, column: str) -> None:
    """Raise ``DataError`` (naming the file) unless every Parquet file of ``corpus`` has ``column``."""
    for paths in corpus.files.values():
        for path in paths:
            _parquet_file(path, column)


def iter_text_batches(
    corpus: CorpusLike, split: str, batch_size: int = 1024, column: str = TEXT_COLUMN
) -> Iterator[tuple[list[str], int]]:
    """Yield ``(texts, n_utf8_bytes)`` per record batch of one split, in file order (deterministic).

    The byte count comes from Arrow's UTF-8 buffers, so it costs nothing per document.
    """
    import pyarrow.compute as pc

    if split not in corpus.files:
        raise DataError(
            f"corpus version {corpus.id} has no split '{split}' (splits: {', '.join(corpus.files) or 'none'})"
        )
    for path in corpus.files[split]:
        pf = _parquet_file(path, column)
        for batch in pf.iter_batches(batch_size=batch_size, columns=[column]):
            col = batch.column(0)
            if col.null_count:
                col = pc.fill_null(col, "")
            n_bytes = pc.sum(pc.binary_length(col)).as_py() or 0
            yield col.to_pylist(), int(n_bytes)


class SplitTexts:
    """The text batches of one split, as an iterable that totals documents and UTF-8 bytes as it goes."""

    def __init__(self, corpus: CorpusLike, split: str, batch_size: int = 1024, column: str = TEXT_COLUMN) -> None:
        self.corpus, self.split, self.batch_size, self.column = corpus, split, batch_size, column
        self.n_bytes = 0
        self.n_docs = 0

    def __iter__(self) -> Iterator[list[str]]:
        for texts, n_bytes in iter_text_batches(self.corpus, self.split, self.batch_size, self.column):
            self.n_bytes += n_bytes
            self.n_docs += len(texts)
            yield texts


def iter_texts(
    corpus: CorpusLike, split: str, max_bytes: int | None = None, column: str = TEXT_COLUMN
) -> Iterator[str]:
    """Documents of one split, one by one, stopping once ``max_bytes`` UTF-8 bytes were yielded."""
    seen = 0
    for texts, _ in iter_text_batches(corpus, split, column=column):
        for t in texts:
            yield t
            seen += len(t.encode("utf-8")) if max_bytes is not None else 0
            if max_bytes is not None and seen >= max_bytes:
                return
