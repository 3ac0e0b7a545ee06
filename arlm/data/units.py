"""Work units: the picklable pieces an ingest is cut into, and what a worker gives back.

A unit is small enough (a few tens of MB of input) that a worker holds it in memory, and a
planner cuts every source into units, so memory stays bounded whatever the corpus size.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from arlm.data.cleaning import Tally


@dataclass(frozen=True)
class FileEntry:
    """One input file (or URL / dataset shard) of the source manifest."""

    uri: str             # what users see: a path relative to the source root, a URL, ...
    path: str            # where to read it (absolute), "" for in-memory sources
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
    dataset_path: str = ""   # hf: the saved folder (load_from_disk) or dataset name
    dataset_split: str = ""

    @property
    def n_bytes(self) -> int:
        return sum(f.size for f in self.files)


@dataclass
class FileOutcome:
    """What became of one input file: how many documents it gave, or why it gave none."""

    uri: str
    n_docs: int = 0
    n_bytes: int = 0
    reason: str = ""


@dataclass
class UnitResult:
    """Cleaned documents of a unit, in input order.

    Readers append to the column lists; ``seal`` turns them into one Arrow ``RecordBatch``
    (``doc_id``, ``uri``, ``text``, ``n_bytes``) so that the batch crosses process boundaries as
    flat buffers and the parent routes rows to splits by index without touching the text.
    """

    doc_ids: list[str] = field(default_factory=list)
    uris: list[str] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    sizes: list[int] = field(default_factory=list)
    batch: object = None
    tally: Tally = field(default_factory=Tally)
    outcomes: list[FileOutcome] = field(default_factory=list)
    n_input_bytes: int = 0

    def seal(self) -> "UnitResult":
        import pyarrow as pa

        self.batch = pa.RecordBatch.from_arrays(
            [pa.array(self.doc_ids, pa.string()), pa.array(self.uris, pa.string()),
             pa.array(self.texts, pa.string()), pa.array(self.sizes, pa.int64())],
            names=["doc_id", "uri", "text", "n_bytes"])
        self.uris, self.texts, self.sizes = [], [], []
        return self
