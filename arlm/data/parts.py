"""Parquet parts: encoded by the workers, placed (and rarely edited) by the ingest process.

Each work unit's documents become, per split, one zstd Parquet file in memory
(``encode_part``); the ingest process writes those bytes as ``part-<split>-<unit>.parquet``.
Compression, the costly step, thus runs in parallel in the workers (and on a Ray cluster
without a shared filesystem), and the ingest process only moves bytes. It edits a part in
two rare cases: a document duplicated across units (dropped from the later unit) and a
held-out split left empty on a tiny corpus (one train document moved there).
"""

from __future__ import annotations

from pathlib import Path

ROW_GROUP_BYTES = 32 << 20


def parquet_schema():
    import pyarrow as pa

    return pa.schema(
        [
            ("doc_id", pa.string()),
            ("source", pa.string()),
            ("uri", pa.string()),
            ("text", pa.string()),
            ("n_bytes", pa.int64()),
            ("split", pa.string()),
        ]
    )


def part_name(split: str, unit_index: int) -> str:
    return f"part-{split}-{unit_index:05d}.parquet"


def encode_part(table, compression_level: int | None = None) -> bytes:
    """A table of the lake schema as Parquet file bytes, row groups of at most ~32 MB of text."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    sink = pa.BufferOutputStream()
    with pq.ParquetWriter(
        sink,
        parquet_schema(),
        compression="zstd",
        compression_level=compression_level,
        use_dictionary=["source", "split"],
        write_statistics=["doc_id", "n_bytes", "split"],
    ) as writer:
        sizes = table.column("n_bytes").to_pylist()
        start = acc = 0
        for i, n in enumerate(sizes):
            acc += n
            if acc >= ROW_GROUP_BYTES:
                writer.write_table(table.slice(start, i + 1 - start))
                start, acc = i + 1, 0
        if start < table.num_rows:
            writer.write_table(table.slice(start))
    return sink.getvalue().to_pybytes()


def build_table(doc_ids: list[str], uris: list[str], texts, sizes: list[int], source: str, split: str):
    """The lake schema's table; ``texts`` is an Arrow string array (or a list of str)."""
    import pyarrow as pa

    n = len(doc_ids)
    return pa.Table.from_arrays(
        [
            pa.array(doc_ids, pa.string()),
            pa.array([source] * n, pa.string()),
            pa.array(uris, pa.string()),
            texts if isinstance(texts, pa.Array) else pa.array(texts, pa.string()),
            pa.array(sizes, pa.int64()),
            pa.array([split] * n, pa.string()),
        ],
        schema=parquet_schema(),
    )


def drop_docs(data: bytes, doc_ids: set[str]) -> bytes | None:
    """Part bytes without the rows whose ``doc_id`` is in ``doc_ids`` (None if none is left)."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    table = pq.read_table(pa.BufferReader(data))
    keep = pc.invert(pc.is_in(table.column("doc_id"), value_set=pa.array(sorted(doc_ids), pa.string())))
    table = table.filter(keep)
    return encode_part(table) if table.num_rows else None


class PartSink:
    """Writes unit parts into the version's temporary folder and keeps the file list per split."""

    def __init__(self, folder: Path, splits: tuple[str, ...]):
        self.folder = Path(folder)
        self.files: dict[str, dict[int, str]] = {s: {} for s in splits}

    def write(self, split: str, unit_index: int, data: bytes) -> None:
        name = part_name(split, unit_index)
        (self.folder / name).write_bytes(data)
        self.files[split][unit_index] = name

    def move(self, doc_id: str, unit_index: int, src: str, dst: str) -> None:
        """Move one document from the unit's ``src`` part to a new ``dst`` part."""
        import pyarrow as pa
        import pyarrow.compute as pc
        import pyarrow.parquet as pq

        path = self.folder / self.files[src][unit_index]
        table = pq.read_table(path)
        is_doc = pc.equal(table.column("doc_id"), doc_id)
        row = table.filter(is_doc)
        row = row.set_column(5, "split", pa.array([dst] * row.num_rows, pa.string()))
        rest = table.filter(pc.invert(is_doc))
        if rest.num_rows:
            path.write_bytes(encode_part(rest))
        else:
            path.unlink()
            del self.files[src][unit_index]
        self.write(dst, unit_index, encode_part(row))

    def listing(self) -> dict[str, list[str]]:
        return {s: [by_unit[i] for i in sorted(by_unit)] for s, by_unit in self.files.items()}

    def summary(self) -> tuple[dict[str, dict[str, int]], dict[str, str]]:
        """Per split ``{n_docs, n_bytes}`` and a hash of the ordered doc ids, read from the files."""
        import hashlib

        import pyarrow.compute as pc
        import pyarrow.parquet as pq

        counts, hashes = {}, {}
        for split, names in self.listing().items():
            h = hashlib.sha256()
            n_docs = n_bytes = 0
            for name in names:
                t = pq.read_table(self.folder / name, columns=["doc_id", "n_bytes"])
                n_docs += t.num_rows
                n_bytes += int(pc.sum(t.column("n_bytes")).as_py() or 0)
                for doc_id in t.column("doc_id").to_pylist():
                    h.update(doc_id.encode())
            counts[split] = {"n_docs": n_docs, "n_bytes": n_bytes}
            hashes[split] = h.hexdigest()
        return counts, hashes
