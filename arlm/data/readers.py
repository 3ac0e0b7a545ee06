"""Readers: one work unit in, cleaned documents out (this is what runs in workers).

Imports stay light (stdlib at module level; pyarrow when a result is sealed, ``datasets`` only in
the HF reader) because every pool worker imports this module at start-up.
"""

from __future__ import annotations

import ast
import csv
import hashlib
import io
import json
import sys
from pathlib import Path

from arlm.data.cleaning import (
    Cleaned,
    Policy,
    Tally,
    ascii_compatible,
    choose_encoding,
    clean_document,
    clean_file_bytes,
    decode_text,
    may_be_binary_checked,
)
from arlm.data.splits import hash_unit
from arlm.data.units import FileEntry, FileOutcome, Job, Unit, UnitResult
from arlm.errors import DataError

READ_CHUNK = 4 << 20


def process_unit(unit: Unit, job: Job) -> UnitResult:
    """Read, clean, hash, split and encode one unit; ``DataError`` for input that cannot be used."""
    reader = _READERS.get(unit.kind)
    if reader is None:  # a planner bug, not a user error
        raise ValueError(f"unknown unit kind {unit.kind!r}")
    result = UnitResult()
    reader(unit, job.policy, result)
    return result.seal(job)


def _emit(result: UnitResult, uri: str, cleaned: Cleaned | None, outcome: FileOutcome, policy: Policy) -> None:
    """Append a cleaned document's segments: sha256 doc id and split hash from the bytes."""
    if cleaned is None:
        return
    data, spans = cleaned
    view = memoryview(data)
    multi = len(spans) > 1
    result.tally.add("emitted-documents", len(spans))  # before duplicates are dropped
    for i, (a, b) in enumerate(spans):
        piece = view[a:b]
        digest = hashlib.sha256(piece).hexdigest()
        result.doc_ids.append(digest)
        result.units.append(hash_unit(digest, policy.seed))
        result.uris.append(f"{uri}#{i}" if multi else uri)
        result.chunks.append(piece)
        result.sizes.append(b - a)
        outcome.n_docs += 1


def _read_file_bounded(entry: FileEntry, policy: Policy, tally: Tally) -> bytes | None:
    """Read a whole file, giving up early (skip, tallied) on a file that cannot be a document.

    Early exits keep a worker's memory bounded: a file larger than 4 bytes per allowed character
    cannot fit ``max_chars``, and a line longer than ``max_line_chars`` is seen chunk by chunk.
    """
    too_big = entry.size > 4 * policy.max_chars
    chunks: list[bytes] = []
    line_len = 0
    limit = policy.max_line_chars * 4  # bytes; the exact character check follows on the text
    try:
        with open(entry.path, "rb") as f:
            while block := f.read(READ_CHUNK):
                if not chunks and b"\x00" in block[:8192] and may_be_binary_checked(block, policy):
                    tally.skip(entry.uri, "binary")
                    return None
                nl = block.rfind(b"\n")
                if nl < 0:
                    line_len += len(block)
                else:
                    first = block.find(b"\n")
                    if line_len + first > limit:
                        line_len = limit + 1
                    else:
                        line_len = len(block) - nl - 1
                if line_len > limit:
                    tally.skip(entry.uri, "line-longer-than-max_line_chars")
                    return None
                if too_big:  # after one block, so a huge single line is named as such
                    tally.skip(entry.uri, "longer-than-max_chars")
                    return None
                chunks.append(block)
    except FileNotFoundError:
        raise DataError(f"{entry.path}: file disappeared during ingest") from None
    except IsADirectoryError:
        raise DataError(f"{entry.path}: is a folder, expected a file") from None
    except PermissionError:
        raise DataError(f"{entry.path}: permission denied") from None
    except OSError as exc:
        raise DataError(f"{entry.path}: cannot read ({exc.strerror or exc})") from None
    return b"".join(chunks)


def _read_text(unit: Unit, policy: Policy, result: UnitResult) -> None:
    for entry in unit.files:
        outcome = FileOutcome(entry.uri, n_bytes=entry.size)
        result.outcomes.append(outcome)
        result.n_input_bytes += entry.size
        data = _read_file_bounded(entry, policy, result.tally)
        if data is None:
            outcome.reason = _last_reason(result.tally, entry.uri)
            continue
        cleaned = clean_file_bytes(data, entry.uri, policy, result.tally, outcome)
        if cleaned is None:
            outcome.reason = _last_reason(result.tally, entry.uri)
        _emit(result, entry.uri, cleaned, outcome, policy)


def _last_reason(tally: Tally, uri: str) -> str:
    return tally.last[1] if tally.last[0] == uri else "skipped"


# A record whose text field is null or missing: the same for every tabular format (a CSV row
# too short for the column, a JSONL object without the key or with null, a Parquet/HF null).
MISSING = "missing-or-null-text"


def _clean_record(value, uri: str, policy: Policy, result: UnitResult, outcome: FileOutcome) -> None:
    if value is None:
        result.tally.skip(uri, MISSING)
        return
    if not isinstance(value, str):
        result.tally.skip(uri, "not-a-string")
        return
    _emit(result, uri, clean_document(value, uri, policy, result.tally), outcome, policy)


def _read_range(unit: Unit) -> tuple[FileEntry, bytes, int]:
    """The unit's bytes of its single file (its ``byte_range``, or all of it) and the start."""
    (entry,) = unit.files
    start, end = unit.byte_range or (0, entry.size)
    try:
        with open(entry.path, "rb") as f:
            f.seek(start)
            return entry, f.read(end - start), start
    except OSError as exc:
        raise DataError(f"{entry.path}: cannot read ({exc.strerror or exc})") from None


def _decoded_lines(
    entry: FileEntry, data: bytes, start: int, first_line: int, policy: Policy, result: UnitResult, outcome: FileOutcome
):
    """(line number, text) of each non-blank line of a JSONL slice, decoded under the policy.

    ASCII-compatible codecs decode line by line (``skip`` drops a line, ``strict`` names it);
    UTF-16/32 slices (always whole files) are decoded at once.
    """
    encoding, n = choose_encoding(data, policy, at_start=start == 0)
    data = data[n:]
    outcome.encoding = encoding
    label = "UTF-8" if encoding == "utf-8" else encoding
    if not ascii_compatible(encoding):
        text = decode_text(data, encoding, entry.uri, policy, result.tally, outcome)
        if text is None:
            outcome.reason = _last_reason(result.tally, entry.uri)
            return
        for lineno, line in enumerate(text.split("\n"), start=first_line):
            if not line.strip():
                continue
            if len(line) > policy.max_chars:
                result.tally.skip(f"{entry.uri}:{lineno}", "longer-than-max_chars")
                continue
            yield lineno, line
        return
    lines = data.split(b"\n")
    del data
    for lineno, raw in enumerate(lines, start=first_line):
        if not raw.strip():
            continue
        if len(raw) > 4 * policy.max_chars:
            result.tally.skip(f"{entry.uri}:{lineno}", "longer-than-max_chars")
            continue
        try:
            line = raw.decode(encoding)
        except UnicodeDecodeError:
            if policy.encoding_errors == "strict":
                raise DataError(
                    f"{entry.path}: line {lineno} is not valid {label} "
                    "(encoding_errors=strict; or --encoding NAME|auto)"
                ) from None
            if policy.encoding_errors == "skip":
                result.tally.skip(
                    f"{entry.uri}:{lineno}", "invalid-utf8" if encoding == "utf-8" else f"invalid-{encoding}"
                )
                continue
            result.tally.add("utf8:replaced")
            outcome.replaced = True
            line = raw.decode(encoding, errors="replace")
        yield lineno, line
    if not outcome.replaced:
        result.tally.add("utf8:ok")


def _read_jsonl(unit: Unit, policy: Policy, result: UnitResult) -> None:
    """JSON objects, one a line; the text is field ``unit.column`` (``text`` when none is given).

    A record whose field is null or missing is skipped and counted (``missing-or-null-text``,
    examples name file:line); a slice in which no record has a value for it fails, naming the
    file, since the field name is then wrong.
    """
    entry, data, start = _read_range(unit)
    col = unit.column or "text"
    outcome = FileOutcome(entry.uri, n_bytes=len(data))
    result.outcomes.append(outcome)
    result.n_input_bytes += len(data)
    n_missing = n_present = 0
    first_missing: tuple[int, list[str]] | None = None
    for lineno, line in _decoded_lines(entry, data, start, unit.first_line, policy, result, outcome):
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"{entry.path}: line {lineno} is not valid JSON ({exc.msg})") from None
        if not isinstance(record, dict):
            raise DataError(f"{entry.path}: line {lineno} is a JSON {type(record).__name__}, expected an object")
        value = record.get(col)
        if value is None:
            n_missing += 1
            if first_missing is None:
                first_missing = (lineno, sorted(record)[:10])
        else:
            n_present += 1
        _clean_record(value, f"{entry.uri}:{lineno}", policy, result, outcome)
    if n_missing and not n_present:
        lineno, fields = first_missing  # type: ignore[misc]
        raise DataError(
            f"{entry.path}: no record has a {col!r} field (null or missing on all "
            f"{n_missing}; line {lineno} has fields: {', '.join(fields) or 'none'}); "
            f"name the text field as {Path(entry.path).name}:FIELD"
        )
    if not outcome.n_docs:
        outcome.reason = outcome.reason or "no-documents"


def _read_csv(unit: Unit, policy: Policy, result: UnitResult) -> None:
    entry, data, start = _read_range(unit)
    col = unit.column or "text"
    outcome = FileOutcome(entry.uri, n_bytes=len(data))
    result.outcomes.append(outcome)
    result.n_input_bytes += len(data)
    csv.field_size_limit(min(sys.maxsize, 4 * policy.max_chars))
    encoding, n = choose_encoding(data, policy, at_start=start == 0)
    text = decode_text(data[n:], encoding, entry.uri, policy, result.tally, outcome, name=entry.path, offset=start + n)
    if text is None:
        outcome.reason = _last_reason(result.tally, entry.uri)
        return
    del data
    reader = csv.DictReader(io.StringIO(text, newline=""), fieldnames=list(unit.header) or None)
    try:
        if reader.fieldnames is None:
            raise DataError(f"{entry.path}: empty CSV file (no header row)")
        if col not in reader.fieldnames:
            raise DataError(
                f"{entry.path}: no column {col!r} in the CSV header "
                f"(columns: {', '.join(reader.fieldnames[:10])}); name the text column "
                f"as {Path(entry.path).name}:COLUMN"
            )
        line_base = unit.first_line - 1
        prev = reader.line_num
        for row in reader:
            lineno = line_base + prev + 1  # physical line where the record starts
            prev = reader.line_num
            _clean_record(row[col], f"{entry.uri}:{lineno}", policy, result, outcome)
    except csv.Error as exc:
        raise DataError(
            f"{entry.path}: malformed CSV near line {unit.first_line + reader.line_num - 1} ({exc})"
        ) from None
    if not outcome.n_docs:
        outcome.reason = outcome.reason or "no-documents"


def _read_parquet(unit: Unit, policy: Policy, result: UnitResult) -> None:
    import pyarrow.parquet as pq

    (entry,) = unit.files
    outcome = FileOutcome(entry.uri)
    result.outcomes.append(outcome)
    try:
        pf = pq.ParquetFile(entry.path)
        for rg in unit.row_groups:
            table = pf.read_row_group(rg, columns=[unit.column])
            result.n_input_bytes += table.nbytes
            outcome.n_bytes += table.nbytes
            for i, value in enumerate(table.column(0).to_pylist()):
                _clean_record(value, f"{entry.uri}:rg{rg}:{i}", policy, result, outcome)
    except DataError:
        raise
    except Exception as exc:  # pyarrow raises several types for corrupt files
        raise DataError(f"{entry.path}: cannot read Parquet ({exc})") from None


def _docstrings(source: bytes, uri: str) -> str | None:
    """The module's, classes' and functions' docstrings in source order, blank-line separated."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return None
    parts: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            doc = ast.get_docstring(node, clean=True)
            if doc:
                parts.append((getattr(node, "lineno", 0), doc))  # type: ignore[arg-type]
    parts.sort(key=lambda p: p[0])  # type: ignore[index]
    return "\n\n".join(doc for _, doc in parts) + "\n" if parts else ""  # type: ignore[misc]


def _read_stdlib(unit: Unit, policy: Policy, result: UnitResult) -> None:
    for entry in unit.files:
        outcome = FileOutcome(entry.uri, n_bytes=entry.size)
        result.outcomes.append(outcome)
        result.n_input_bytes += entry.size
        with open(entry.path, "rb") as f:
            source = f.read()
        if unit.kind == "stdlib-code":
            cleaned = clean_file_bytes(source, entry.uri, policy, result.tally)
        else:
            text = _docstrings(source, entry.uri)
            if not text:
                reason = "syntax-error" if text is None else "no-docstring"
                result.tally.skip(entry.uri, reason)
                outcome.reason = reason
                continue
            cleaned = clean_document(text, entry.uri, policy, result.tally)
        if cleaned is None:
            outcome.reason = _last_reason(result.tally, entry.uri)
        _emit(result, entry.uri, cleaned, outcome, policy)


def _read_pydoc_topics(unit: Unit, policy: Policy, result: UnitResult) -> None:
    from pydoc_data.topics import topics

    (entry,) = unit.files
    outcome = FileOutcome(entry.uri, n_bytes=entry.size)
    result.outcomes.append(outcome)
    result.n_input_bytes += entry.size
    for key in sorted(topics):
        uri = f"{entry.uri}#{key}"
        _emit(result, uri, clean_document(topics[key], uri, policy, result.tally), outcome, policy)


def _read_hf(unit: Unit, policy: Policy, result: UnitResult) -> None:
    from arlm.data.hf import open_dataset

    (entry,) = unit.files
    outcome = FileOutcome(entry.uri)
    result.outcomes.append(outcome)
    ds = open_dataset(unit.dataset_path, unit.dataset_split)
    start, stop = unit.row_range or (0, len(ds))
    for i in range(start, stop, 1000):
        batch = ds[i : min(stop, i + 1000)][unit.column]
        for j, value in enumerate(batch):
            if isinstance(value, str):
                n = len(value.encode("utf-8", errors="surrogatepass"))
                result.n_input_bytes += n
                outcome.n_bytes += n
            _clean_record(value, f"{entry.uri}:{i + j}", policy, result, outcome)


_READERS = {
    "text": _read_text,
    "jsonl": _read_jsonl,
    "csv": _read_csv,
    "parquet": _read_parquet,
    "stdlib-docs": _read_stdlib,
    "stdlib-code": _read_stdlib,
    "pydoc-topics": _read_pydoc_topics,
    "hf": _read_hf,
}

__all__ = ["process_unit"]
