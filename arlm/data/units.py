"""Work units: the picklable pieces an ingest is cut into, and what a worker gives back.

A unit is small enough (a few tens of MB of input) that a worker holds it in memory, and a
planner cuts every source into units, so memory stays bounded whatever the corpus size.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from arlm.data.cleaning import Policy, Tally


@dataclass(frozen=True)
class FileEntry:
    """One input file (or URL / dataset shard) of the source manifest."""

    uri: str  # what users see: a path relative to the source root, a URL, ...
    path: str  # where to read it (absolute), "" for in-memory sources
    size: int
    mtime_ns: int = 0
    sha256: str = ""

    def manifest_row(self) -> tuple:
        return (self.uri, self.size, self.mtime_ns, self.sha256)


@dataclass(frozen=True)
class Unit:
    """A batch of work for one worker.

    ``kind`` picks the reader: ``text`` (whole files), ``jsonl`` / ``csv`` (one file, a text
    column), ``parquet`` (row groups of one file), ``stdlib-docs`` (docstrings of .py files),
    ``stdlib-code`` (.py files), ``pydoc-topics``, ``hf`` (a row range of a HF dataset).
    """

    kind: str
    files: tuple[FileEntry, ...]
    column: str | None = None
    row_groups: tuple[int, ...] = ()
    row_range: tuple[int, int] | None = None
    dataset_path: str = ""  # hf: the saved folder (load_from_disk) or dataset name
    dataset_split: str = ""
    byte_range: tuple[int, int] | None = None  # jsonl / csv: a slice of the file at record bounds
    first_line: int = 1  # the physical line number at byte_range[0]
    header: tuple[str, ...] = ()  # csv ranges after the first: the column names

    @property
    def n_bytes(self) -> int:
        if self.byte_range is not None:
            return self.byte_range[1] - self.byte_range[0]
        return sum(f.size for f in self.files)


@dataclass
class FileOutcome:
    """What became of one input file: how many documents it gave, or why it gave none."""

    uri: str
    n_docs: int = 0
    n_bytes: int = 0
    reason: str = ""
    encoding: str = ""  # the codec its bytes were decoded with ("" when not decoded)
    replaced: bool = False  # some bytes were not valid in that codec and became U+FFFD


@dataclass(frozen=True)
class Job:
    """What every unit of one ingest shares: the cleaning policy and how to split and write."""

    policy: Policy
    source: str  # the canonical spec, the ``source`` column
    val_fraction: float
    test_fraction: float
    dedup: bool = True
    compression_level: int | None = None


@dataclass
class UnitResult:
    """What a worker gives back for one unit.

    Readers append each document's UTF-8 bytes and fields; ``seal`` drops duplicates inside the
    unit, assigns splits by hash and encodes one Parquet part per split (``parts``: split ->
    file bytes), so the text crosses the process boundary compressed. ``kept`` lists the rows
    of the parts in order: (doc_id, split hash, split).
    """

    doc_ids: list[str] = field(default_factory=list)
    units: list[float] = field(default_factory=list)
    uris: list[str] = field(default_factory=list)
    chunks: list = field(default_factory=list)
    sizes: list[int] = field(default_factory=list)
    parts: dict[str, bytes] = field(default_factory=dict)
    kept: list[tuple[str, float, str]] = field(default_factory=list)
    tally: Tally = field(default_factory=Tally)
    outcomes: list[FileOutcome] = field(default_factory=list)
    n_input_bytes: int = 0

    def seal(self, job: Job) -> UnitResult:
        from arlm.data.parts import build_table, encode_part
        from arlm.data.splits import assign_split

        rows: dict[str, list[int]] = {}
        seen: set[str] = set()
        for i, (doc_id, u) in enumerate(zip(self.doc_ids, self.units)):
            if job.dedup:
                if doc_id in seen:
                    self.tally.add("skipped:duplicate")
                    continue
                seen.add(doc_id)
            split = assign_split(u, job.val_fraction, job.test_fraction)
            rows.setdefault(split, []).append(i)
            self.kept.append((doc_id, u, split))
        for split, idx in rows.items():
            table = build_table(
                [self.doc_ids[i] for i in idx],
                [self.uris[i] for i in idx],
                _text_array([self.chunks[i] for i in idx], [self.sizes[i] for i in idx]),
                [self.sizes[i] for i in idx],
                job.source,
                split,
            )
            self.parts[split] = encode_part(table, job.compression_level)
        self.doc_ids, self.units, self.uris, self.chunks, self.sizes = [], [], [], [], []
        return self


def _text_array(chunks: list, sizes: list[int]):
    """An Arrow string array straight from UTF-8 byte chunks (one copy, no Python strings)."""
    from array import array

    import pyarrow as pa

    offsets = array("q", [0])
    pos = 0
    for n in sizes:
        pos += n
        offsets.append(pos)
    data = b"".join(chunks)
    return pa.LargeStringArray.from_buffers(len(sizes), pa.py_buffer(offsets), pa.py_buffer(data)).cast(pa.string())
