"""Hugging Face datasets as a source (the optional ``datasets`` package, extra ``hf``).

``hf:NAME_OR_DIR[:COLUMN]``: a folder written by ``save_to_disk`` is opened with
``load_from_disk`` (memory-mapped Arrow, no network); anything else goes to ``load_dataset``
(the hub or its local cache). Every split of a ``DatasetDict`` is read; arlm makes its own
train/val/test split by hash. The version covers each split's ``_fingerprint`` and row count.
"""

from __future__ import annotations

from pathlib import Path

from arlm.data.units import FileEntry, Unit
from arlm.errors import ConfigError, DataError

ROWS_PER_UNIT = 20_000


def _datasets():
    try:
        import datasets
    except ImportError:
        raise ConfigError("hf: corpora need the 'datasets' package (pip install 'arlm[hf]')") from None
    return datasets


def _load(name: str):
    datasets = _datasets()
    try:
        if Path(name).expanduser().exists():
            return datasets.load_from_disk(str(Path(name).expanduser()))
        return datasets.load_dataset(name)
    except (FileNotFoundError, ValueError, ConnectionError, OSError) as exc:
        raise DataError(f"hf:{name}: cannot load dataset ({str(exc).splitlines()[0]})") from None


def open_dataset(name: str, split: str):
    """The ``datasets.Dataset`` of ``split`` ('' for a dataset without splits)."""
    ds = _load(name)
    return ds[split] if split else ds


def scan_hf(rest: str) -> tuple[str, list[FileEntry], list[Unit], dict[str, int]]:
    """What ``hf:REST`` holds: (canonical spec, one entry per split, the row-range work units,
    rows per split). ``arlm.data.sources`` makes the source plan of them."""
    name, column = rest, "text"
    if ":" in rest and not Path(rest).expanduser().exists():
        name, column = rest.rsplit(":", 1)
    if Path(name).expanduser().exists():
        name = str(Path(name).expanduser().resolve())
    ds = _load(name)
    splits = {s: ds[s] for s in sorted(ds)} if hasattr(ds, "keys") else {"": ds}
    entries, units = [], []
    for split, d in splits.items():
        if column not in d.column_names:
            raise DataError(
                f"hf:{name}: no column {column!r} in split {split or 'default'!r} "
                f"(columns: {', '.join(d.column_names[:10])})"
            )
        uri = f"hf:{name}" + (f"/{split}" if split else "")
        entry = FileEntry(uri, "", int(d.data.nbytes), 0, str(getattr(d, "_fingerprint", "")))
        entries.append(entry)
        for start in range(0, d.num_rows, ROWS_PER_UNIT):
            units.append(
                Unit(
                    "hf",
                    (entry,),
                    column=column,
                    dataset_path=name,
                    dataset_split=split,
                    row_range=(start, min(d.num_rows, start + ROWS_PER_UNIT)),
                )
            )
    return f"hf:{name}:{column}", entries, units, {s: d.num_rows for s, d in splits.items()}
