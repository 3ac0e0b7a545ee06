"""Corpus SPECs to a plan: a canonical spec, a source manifest (what the version hash covers) and
the work units that read it.

Planning only stats files (and reads Parquet footers), so it is cheap and runs before any work;
every input problem that can be seen this early is raised here, before the lake is touched.

SPEC forms::

    stdlib-docs | stdlib-code            the running Python's standard library (tests excluded)
    PATH                                 a text file, or a folder of text files (--include/--exclude);
                                         .jsonl / .csv / .parquet files in it are read from their
                                         ``text`` field (an error names a file that has none)
    PATH:COLUMN                          .jsonl / .csv / .parquet file (or a folder of them)
    https://host/file[#sha256=HEX]       downloaded to the home's cache, verified, then as PATH
    hf:NAME_OR_SAVED_DIR[:COLUMN]        a Hugging Face dataset (``datasets`` installed)
    NAME                                 a named SPEC: home/corpora/NAME.json or
                                         data_catalog/corpora/NAME.json, shipped as package
                                         data of ``arlm.data_catalog`` (``{"spec": ...}``)
"""

from __future__ import annotations

import fnmatch
import json
import os
import platform
import re
import sys
import sysconfig
from dataclasses import dataclass, field
from pathlib import Path

from arlm.data.config import IngestConfig
from arlm.data.ranges import record_ranges
from arlm.data.units import FileEntry, Unit
from arlm.data_catalog import shipped_dir
from arlm.errors import ConfigError, DataError

TABULAR_EXT = {".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv", ".parquet": "parquet"}
DEFAULT_COLUMN = "text"  # the field read from a tabular file given without :COLUMN
UNIT_BYTES = 16 << 20  # input bytes per work unit (bounds a worker's memory)
UNIT_FILES = 256  # files per work unit (bounds scheduling overhead for tiny files)
STDLIB_EXCLUDED_DIRS = {"site-packages", "dist-packages", "test", "tests", "idle_test", "__pycache__", "__phello__"}


@dataclass
class SourcePlan:
    spec: str  # canonical (absolute paths)
    kind: str  # stdlib-docs, stdlib-code, text, jsonl, csv, parquet, url, hf
    entries: list[FileEntry]
    units: list[Unit]
    python_version: str | None = None
    extra_manifest: dict = field(default_factory=dict)

    @property
    def n_bytes(self) -> int:
        return sum(e.size for e in self.entries)

    def manifest(self) -> dict:
        """What the version id covers: every input's identity (path, size, mtime or hash)."""
        return {
            "spec": self.spec,
            "kind": self.kind,
            "python": self.python_version,
            "files": [e.manifest_row() for e in self.entries],
            **self.extra_manifest,
        }


# data_catalog/corpora of the repository, installed as package data of ``arlm.data_catalog``
NAMED_CORPORA_DIR = shipped_dir("corpora")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def resolve_named(spec: str, search: tuple[Path, ...]) -> str:
    """A named corpus (``NAME.json`` with ``{"spec": ...}`` in a ``search`` folder) to its SPEC.

    Anything that exists as a path, or is not a plain name, is returned unchanged.
    """
    if not _NAME.match(spec) or spec in ("stdlib-docs", "stdlib-code") or os.path.lexists(spec):
        return spec
    for folder in search:
        f = Path(folder) / f"{spec}.json"
        if f.is_file():
            try:
                named = json.loads(f.read_text(encoding="utf-8"))["spec"]
            except (ValueError, KeyError, TypeError):
                raise ConfigError(f"{f}: a named corpus needs a JSON object with a 'spec' string") from None
            if not isinstance(named, str) or resolve_named(named, ()) != named or named == spec:
                raise ConfigError(f"{f}: 'spec' must be a corpus SPEC string (not another name)")
            return named
    return spec


def plan_source(cfg: IngestConfig, cache_dir: Path, named_dirs: tuple[Path, ...] = (NAMED_CORPORA_DIR,)) -> SourcePlan:
    """Plan the ingest of ``cfg.corpus``; names are looked up in ``named_dirs`` first."""
    spec = resolve_named(cfg.corpus.strip(), tuple(named_dirs))
    if spec in ("stdlib-docs", "stdlib-code"):
        return _plan_stdlib(spec)
    if spec.startswith(("http://", "https://")):
        from arlm.data.http_source import fetch

        local, url, column, sha = fetch(spec, cache_dir)
        plan = _plan_path(local, column, cfg, uri_base=url)
        plan.spec, plan.kind = spec, "url"
        plan.entries = [FileEntry(url, str(local), e.size, 0, sha) for e in plan.entries]
        plan.extra_manifest = {"sha256": sha}
        return plan
    if spec.startswith("hf:"):
        from arlm.data.hf import scan_hf

        canonical, entries, units, rows = scan_hf(spec[3:])
        return SourcePlan(spec=canonical, kind="hf", entries=entries, units=units, extra_manifest={"rows": rows})
    path, column = split_path_column(spec)
    return _plan_path(path, column, cfg)


def split_path_column(spec: str) -> tuple[Path, str | None]:
    """``data.jsonl:text`` -> (path, 'text'); a spec that exists as a path as a whole wins."""
    whole = Path(spec).expanduser()
    if os.path.lexists(whole):
        return whole, None
    if ":" in spec:
        left, col = spec.rsplit(":", 1)
        left_path = Path(left).expanduser()
        if col and "/" not in col and (os.path.lexists(left_path) or left_path.suffix.lower() in TABULAR_EXT):
            if not os.path.lexists(left_path):
                raise DataError(f"{left_path}: no such file (corpus spec {spec!r})")
            return left_path, col
    raise DataError(f"{whole}: no such file or folder (corpus spec {spec!r})")


def _stat(path: Path) -> os.stat_result:
    try:
        return path.stat()
    except OSError as exc:
        if exc.errno == 40:  # ELOOP
            raise DataError(f"{path}: symlink loop") from None
        if isinstance(exc, FileNotFoundError) and path.is_symlink():
            raise DataError(f"{path}: broken symlink (points to {os.readlink(path)})") from None
        if isinstance(exc, FileNotFoundError):
            raise DataError(f"{path}: no such file or folder") from None
        raise DataError(f"{path}: cannot read ({exc.strerror or exc})") from None


def _plan_path(path: Path, column: str | None, cfg: IngestConfig, uri_base: str | None = None) -> SourcePlan:
    path = Path(os.path.abspath(path))
    st = _stat(path)
    spec = str(path) + (f":{column}" if column else "")
    if path.is_dir():
        files = list(walk_folder(path, cfg.include, cfg.exclude, cfg.follow_symlinks))
        if column:
            files = [f for f in files if is_tabular(f.path)]
        if not files:
            what = "no .jsonl/.csv/.parquet files" if column else "no files"
            if cfg.include or cfg.exclude:
                what += f" matching include={list(cfg.include)} exclude={list(cfg.exclude)}"
            raise DataError(f"{path}: empty folder ({what})")
        kind = "folder"
    else:
        files = [FileEntry(uri_base or path.name, str(path), st.st_size, st.st_mtime_ns)]
        kind = "file"
    if column:
        units = [u for f in files for u in _tabular_units(f, column, cfg.encoding)]
        kind = "tabular"
    else:
        # .jsonl/.csv/.parquet files given without :COLUMN are records, not text: their
        # ``text`` field is read (an error names the file when they have none)
        tabular = [f for f in files if is_tabular(f.path)]
        units = [u for f in tabular for u in _tabular_units(f, DEFAULT_COLUMN, cfg.encoding)]
        units += pack_files([f for f in files if not is_tabular(f.path)], "text")
        if tabular and len(tabular) == len(files):
            kind = "tabular"
    return SourcePlan(spec=spec, kind=kind, entries=files, units=units)


def is_tabular(path: str | Path) -> bool:
    return Path(path).suffix.lower() in TABULAR_EXT


def walk_folder(
    root: Path, include: tuple[str, ...], exclude: tuple[str, ...], follow_symlinks: bool
) -> list[FileEntry]:
    """Files under ``root`` in sorted order; hidden entries skipped; a symlink loop is an error.

    Globs are ``fnmatch`` patterns on the POSIX path relative to ``root`` (``*`` also crosses
    ``/``, so ``*.md`` matches at any depth).
    """
    out: list[FileEntry] = []
    root_st = root.stat()
    stack: list[tuple[Path, tuple[tuple[int, int], ...]]] = [(root, ((root_st.st_dev, root_st.st_ino),))]
    while stack:
        folder, ancestors = stack.pop()
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError as exc:
            raise DataError(f"{folder}: cannot list folder ({exc.strerror or exc})") from None
        subdirs = []
        for entry in entries:
            if entry.name.startswith("."):
                continue
            p = Path(entry.path)
            if entry.is_symlink() and not follow_symlinks:
                continue
            st = _stat(p)
            rel = p.relative_to(root).as_posix()
            if p.is_dir():
                key = (st.st_dev, st.st_ino)
                if key in ancestors:
                    raise DataError(f"{p}: symlink loop (points back to {os.path.realpath(p)})")
                subdirs.append((p, ancestors + (key,)))
                continue
            if include and not any(fnmatch.fnmatchcase(rel, g) for g in include):
                continue
            if exclude and any(fnmatch.fnmatchcase(rel, g) for g in exclude):
                continue
            out.append(FileEntry(rel, str(p), st.st_size, st.st_mtime_ns))
        stack.extend(reversed(subdirs))
    out.sort(key=lambda f: f.uri)
    return out


def pack_files(files: list[FileEntry], kind: str, max_files: int = UNIT_FILES) -> list[Unit]:
    """Group files into units of at most UNIT_BYTES / UNIT_FILES (a big file gets its own)."""
    units: list[Unit] = []
    batch: list[FileEntry] = []
    size = 0
    for f in files:
        if batch and (size + f.size > UNIT_BYTES or len(batch) >= max_files):
            units.append(Unit(kind, tuple(batch)))
            batch, size = [], 0
        batch.append(f)
        size += f.size
    if batch:
        units.append(Unit(kind, tuple(batch)))
    return units


def _whole_file_only(entry: FileEntry, encoding: str) -> bool:
    """UTF-16/32 text (by BOM or by the given codec) cannot be cut at ``\\n`` bytes: one unit."""
    from arlm.data.cleaning import ascii_compatible, sniff_bom

    if encoding not in ("utf-8", "auto"):
        return not ascii_compatible(encoding)
    try:
        with open(entry.path, "rb") as f:
            bom, _ = sniff_bom(f.read(4))
    except OSError as exc:
        raise DataError(f"{entry.path}: cannot read ({exc.strerror or exc})") from None
    return bom is not None and not ascii_compatible(bom)


def _tabular_units(entry: FileEntry, column: str, encoding: str = "utf-8") -> list[Unit]:
    fmt = TABULAR_EXT.get(Path(entry.path).suffix.lower())
    if fmt is None:
        raise ConfigError(f"{entry.path}: a text column ({column!r}) needs a .jsonl, .csv or .parquet file")
    if fmt in ("jsonl", "csv") and _whole_file_only(entry, encoding):
        return [Unit(fmt, (entry,), column=column)]
    if fmt == "jsonl":
        return [
            Unit("jsonl", (entry,), column=column, byte_range=(a, b), first_line=line)
            for a, b, line in record_ranges(Path(entry.path), UNIT_BYTES)
        ]
    if fmt == "csv":
        ranges = record_ranges(Path(entry.path), UNIT_BYTES, quoted=True)
        header = _csv_header(entry, encoding) if len(ranges) > 1 else ()
        return [
            Unit("csv", (entry,), column=column, byte_range=(a, b), first_line=line, header=header if a > 0 else ())
            for a, b, line in ranges
        ]
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(entry.path)
        schema = pf.schema_arrow
    except Exception as exc:
        raise DataError(f"{entry.path}: cannot read Parquet ({exc})") from None
    if column not in schema.names:
        raise DataError(
            f"{entry.path}: no column {column!r} (columns: {', '.join(schema.names[:10])}); "
            f"name the text column as {Path(entry.path).name}:COLUMN"
        )
    units, batch, size = [], [], 0
    for rg in range(pf.metadata.num_row_groups):
        rg_size = pf.metadata.row_group(rg).total_byte_size
        if batch and size + rg_size > UNIT_BYTES:
            units.append(Unit("parquet", (entry,), column=column, row_groups=tuple(batch)))
            batch, size = [], 0
        batch.append(rg)
        size += rg_size
    if batch:
        units.append(Unit("parquet", (entry,), column=column, row_groups=tuple(batch)))
    return units


def _csv_header(entry: FileEntry, encoding: str = "utf-8") -> tuple[str, ...]:
    """Column names of a CSV file (its first record), for ranges that start past it."""
    import csv

    codec = "utf-8-sig" if encoding in ("utf-8", "auto") else encoding
    with open(entry.path, encoding=codec, errors="replace", newline="") as f:
        row = next(csv.reader(f), None)
    if not row:
        raise DataError(f"{entry.path}: empty CSV file (no header row)")
    return tuple(row)


def stdlib_dir() -> Path:
    return Path(sysconfig.get_paths()["stdlib"])


def _plan_stdlib(spec: str) -> SourcePlan:
    root = stdlib_dir()
    files: list[FileEntry] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in STDLIB_EXCLUDED_DIRS and not d.startswith("."))
        for name in sorted(filenames):
            if not name.endswith(".py"):
                continue
            p = Path(dirpath) / name
            st = p.stat()
            files.append(FileEntry(p.relative_to(root).as_posix(), str(p), st.st_size, st.st_mtime_ns))
    files.sort(key=lambda f: f.uri)
    units = pack_files(files, spec, max_files=48)  # ast parsing is slow: small units balance workers
    if spec == "stdlib-docs":
        import pydoc_data.topics as topics_mod

        tp = Path(topics_mod.__file__)
        st = tp.stat()
        topics = FileEntry("pydoc_data.topics", str(tp), st.st_size, st.st_mtime_ns)
        units.append(Unit("pydoc-topics", (topics,)))
        files = files + [topics]
    return SourcePlan(
        spec=spec,
        kind=spec,
        entries=files,
        units=units,
        python_version=platform.python_version(),
        extra_manifest={"python_build": sys.version, "stdlib": str(root)},
    )
