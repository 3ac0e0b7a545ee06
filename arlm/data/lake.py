"""The lake: corpus versions as zstd Parquet folders, written in bounded row groups, read as streams.

Layout of ``home/lake/<id>/``: ``part-<split>-<NNNNN>.parquet`` (columns ``doc_id``, ``source``,
``uri``, ``text``, ``n_bytes``, ``split``), ``corpus.json`` (spec, config, stats, files, Python
version) and ``sources.json`` (every input file and what became of it).
"""

from __future__ import annotations

import hashlib
import json
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from arlm.errors import ConfigError, NotFoundError

SPLITS = ("train", "val", "test")
LAKE_FORMAT = 1
ROW_GROUP_BYTES = 32 << 20
ROW_GROUP_ROWS = 65536
PART_BYTES = 256 << 20


def parquet_schema():
    import pyarrow as pa

    return pa.schema([
        ("doc_id", pa.string()), ("source", pa.string()), ("uri", pa.string()),
        ("text", pa.string()), ("n_bytes", pa.int64()), ("split", pa.string()),
    ])


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
        id=meta["id"], path=folder, spec=meta["spec"], stats=meta["stats"],
        files={s: [folder / name for name in meta["files"].get(s, [])] for s in SPLITS},
        python_version=meta.get("python_version"), config=meta.get("config", {}),
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


class LakeWriter:
    """Arrow batches of documents to per-split rolling Parquet parts, compressed on a thread.

    ``add(split, batch, doc_ids)`` takes a batch with columns ``doc_id, uri, text, n_bytes``.
    Row groups are cut at ``ROW_GROUP_BYTES`` of text or ``ROW_GROUP_ROWS`` rows and parts at
    ``PART_BYTES``, so memory holds about two row groups per split whatever the corpus size.
    pyarrow releases the GIL while encoding, so the caller keeps routing documents while a row
    group compresses.
    """

    def __init__(self, folder: Path, source: str, row_group_bytes: int = ROW_GROUP_BYTES,
                 part_bytes: int = PART_BYTES, compression_level: int | None = None):
        self.folder = Path(folder)
        self.source = source
        self.row_group_bytes = row_group_bytes
        self.part_bytes = part_bytes
        self.compression_level = compression_level
        self._buf: dict[str, list] = {s: [] for s in SPLITS}
        self._buf_bytes = dict.fromkeys(SPLITS, 0)
        self._buf_rows = dict.fromkeys(SPLITS, 0)
        self._writers: dict[str, object] = {}
        self._part_bytes = dict.fromkeys(SPLITS, 0)
        self.files: dict[str, list[str]] = {s: [] for s in SPLITS}
        self.counts = {s: {"n_docs": 0, "n_bytes": 0} for s in SPLITS}
        self._content = {s: hashlib.sha256() for s in SPLITS}
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lake-writer")
        self._pending: Future | None = None

    def add(self, split: str, batch, doc_ids: list[str]) -> None:
        if not batch.num_rows:
            return
        import pyarrow.compute as pc

        nbytes = int(pc.sum(batch.column(3)).as_py())
        self._buf[split].append(batch)
        self._buf_bytes[split] += nbytes
        self._buf_rows[split] += batch.num_rows
        c = self.counts[split]
        c["n_docs"] += batch.num_rows
        c["n_bytes"] += nbytes
        self._content[split].update("".join(doc_ids).encode())
        if self._buf_bytes[split] >= self.row_group_bytes or self._buf_rows[split] >= ROW_GROUP_ROWS:
            self._flush(split)

    def _flush(self, split: str) -> None:
        import pyarrow as pa

        batches = self._buf[split]
        if not batches:
            return
        t = pa.Table.from_batches(batches).combine_chunks()
        n = t.num_rows
        table = pa.Table.from_arrays(
            [t.column(0), pa.array([self.source] * n, pa.string()), t.column(1), t.column(2),
             t.column(3), pa.array([split] * n, pa.string())], schema=parquet_schema())
        nbytes = self._buf_bytes[split]
        self._buf[split] = []
        self._buf_bytes[split] = 0
        self._buf_rows[split] = 0
        if self._pending is not None:
            self._pending.result()  # at most one row group in flight: bounded memory
        self._pending = self._pool.submit(self._write, split, table, nbytes)

    def _write(self, split: str, table, nbytes: int) -> None:
        import pyarrow.parquet as pq

        writer = self._writers.get(split)
        if writer is None:
            name = f"part-{split}-{len(self.files[split]):05d}.parquet"
            writer = pq.ParquetWriter(
                self.folder / name, parquet_schema(), compression="zstd",
                compression_level=self.compression_level,
                use_dictionary=["source", "split"], write_statistics=["doc_id", "n_bytes", "split"])
            self._writers[split] = writer
            self.files[split].append(name)
            self._part_bytes[split] = 0
        writer.write_table(table, row_group_size=table.num_rows)
        self._part_bytes[split] += nbytes
        if self._part_bytes[split] >= self.part_bytes:
            writer.close()
            del self._writers[split]

    def close(self) -> dict[str, list[str]]:
        try:
            for s in SPLITS:
                self._flush(s)
            if self._pending is not None:
                self._pending.result()
            for w in self._writers.values():
                w.close()
        finally:
            self._pool.shutdown(wait=True)
        return self.files

    def abort(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def content_sha256(self) -> dict[str, str]:
        """Per split, a hash of the ordered document ids: identifies the exact bytes of a split."""
        return {s: h.hexdigest() for s, h in self._content.items()}
