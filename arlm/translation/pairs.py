"""Parallel corpora: read sentence pairs, clean them (with a count of every decision), split them.

SPEC forms (``read_pairs``)::

    FILE.tsv                      source<TAB>target, one pair a line, no header; any other number
                                  of columns on a line is an error naming the line
    FILE.tsv:SRC,TGT[,DOC]        a TSV with a header row: the named source, target (and optional
                                  document) columns; other columns are ignored
    FILE.jsonl:SRC,TGT[,DOC]      JSON objects, one a line
    FILE.csv:SRC,TGT[,DOC]        CSV with a header row
    FILE.parquet:SRC,TGT[,DOC]    Parquet columns
    DIR[:SRC_LANG,TGT_LANG]       Moses style: line-aligned NAME.SRC_LANG / NAME.TGT_LANG files;
                                  the languages may be omitted when the folder holds exactly two
                                  suffixes and ``src_lang``/``tgt_lang`` name them

Errors are ``DataError``s naming the file, the line and the problem: a missing column or field (a
JSON record without the target, a CSV row too short), line-aligned files whose line counts differ
(both counts named), a target column empty on every line, bytes that are not UTF-8. A side that
is empty on some lines is not an error: cleaning drops those pairs and counts them.

Documents: the DOC column, or the NAME of a Moses file pair (``book1.en``/``book1.es``: document
``book1``). ``split_pairs`` keeps each document whole in one split, so no test sentence shares a
document with training; sources without enough documents are split pair by pair.

Reuses the corpus ingester's pieces: ``arlm.data.sources.split_path_column`` (``PATH:COLUMNS``),
``arlm.data.cleaning`` (``Policy``/``normalize_text``: NFC and control characters; ``Tally``:
the counts; ``choose_encoding``: byte order marks), ``arlm.data.splits`` (``hash_unit``,
``assign_split``, ``HeldOutGuard``: the same deterministic hash split as monolingual corpora).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from arlm.data.cleaning import Policy, Tally, choose_encoding, normalize_text
from arlm.data.splits import HeldOutGuard, assign_split, hash_unit
from arlm.errors import ConfigError, DataError

SPLITS = ("train", "val", "test")
FORMATS = ("tsv", "jsonl", "csv", "parquet", "moses")
_WS = re.compile(r"\s+")


@dataclass
class Pairs:
    """Sentence pairs, column-wise: ``src[i]`` translates to ``tgt[i]``; ``doc[i]`` is its document
    ('' when the source has none) and ``origin[i]`` where it came from (``file:line``)."""

    src: list[str] = field(default_factory=list)
    tgt: list[str] = field(default_factory=list)
    doc: list[str] = field(default_factory=list)
    origin: list[str] = field(default_factory=list)
    src_lang: str | None = None
    tgt_lang: str | None = None
    spec: str | None = None

    def __len__(self) -> int:
        return len(self.src)

    def append(self, src: str, tgt: str, doc: str = "", origin: str = "") -> None:
        self.src.append(src)
        self.tgt.append(tgt)
        self.doc.append(doc)
        self.origin.append(origin)

    def select(self, indices) -> Pairs:
        idx = list(indices)
        return Pairs(
            [self.src[i] for i in idx],
            [self.tgt[i] for i in idx],
            [self.doc[i] for i in idx],
            [self.origin[i] for i in idx],
            self.src_lang,
            self.tgt_lang,
            self.spec,
        )

    @property
    def documents(self) -> list[str]:
        """Distinct documents in order of first appearance ('' excluded)."""
        return list(dict.fromkeys(d for d in self.doc if d))


# -- reading ------------------------------------------------------------------------------------


def _decode(path: Path, data: bytes, encoding: str) -> str:
    """``data`` as text: a byte order mark is honoured, invalid bytes are an error naming the line."""
    from arlm.data.cleaning import canonical_encoding

    try:
        codec, n = choose_encoding(data, Policy(encoding=canonical_encoding(encoding)))
    except LookupError:
        raise ConfigError(f"unknown text encoding {encoding!r}") from None
    try:
        return data[n:].decode(codec)
    except UnicodeDecodeError as exc:
        line = data[: n + exc.start].count(b"\n") + 1
        label = "UTF-8" if codec == "utf-8" else codec
        raise DataError(f"{path}: line {line} is not valid {label} (byte {n + exc.start})") from None


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise DataError(f"{path}: is a folder, expected a file") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror or exc})") from None


def _lines(text: str) -> list[str]:
    """Lines without their ending (\\n or \\r\\n); a final newline does not start another line."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [ln[:-1] if ln.endswith("\r") else ln for ln in lines]


def _columns(spec_cols: str | None, path: Path) -> tuple[str, str, str | None] | None:
    if spec_cols is None:
        return None
    names = [c.strip() for c in spec_cols.split(",")]
    if len(names) not in (2, 3) or not all(names):
        raise ConfigError(f"{path}: name the columns as {path.name}:SOURCE,TARGET[,DOCUMENT], got {spec_cols!r}")
    if len(set(names)) != len(names):
        raise ConfigError(f"{path}: the source, target and document columns must differ, got {spec_cols!r}")
    return names[0], names[1], names[2] if len(names) == 3 else None


def _check_value(value, path: Path, where: str, name: str, role: str) -> str:
    if value is None:
        raise DataError(f"{path}: {where} has no {role} {name!r} (missing or null)")
    if not isinstance(value, str):
        raise DataError(f"{path}: {where}: the {role} {name!r} is a {type(value).__name__}, expected text")
    return value


def _read_tsv_plain(path: Path, text: str, out: Pairs, tally: Tally) -> None:
    for lineno, line in enumerate(_lines(text), start=1):
        if not line.strip():
            tally.skip(f"{path.name}:{lineno}", "blank-line")
            continue
        parts = line.split("\t")
        if len(parts) != 2:
            hint = (
                "no tab: give source<TAB>target"
                if len(parts) == 1
                else "a tab inside a sentence, or more columns: a file with more columns needs a header "
                "row and FILE.tsv:SRC,TGT"
            )
            raise DataError(
                f"{path}: line {lineno} has {len(parts)} tab-separated column"
                f"{'s' if len(parts) != 1 else ''}, expected 2 ({hint})"
            )
        out.append(parts[0], parts[1], "", f"{path.name}:{lineno}")


def _read_tsv_header(path: Path, text: str, cols: tuple[str, str, str | None], out: Pairs, tally: Tally) -> None:
    lines = _lines(text)
    if not lines:
        raise DataError(f"{path}: empty file (no header row)")
    header = lines[0].split("\t")
    wanted = [c for c in cols if c is not None]
    missing = [c for c in wanted if c not in header]
    if missing:
        raise DataError(f"{path}: no column {missing[0]!r} in the header row (columns: {', '.join(header[:10])})")
    pos = [header.index(c) for c in wanted]
    for lineno, line in enumerate(lines[1:], start=2):
        if not line.strip():
            tally.skip(f"{path.name}:{lineno}", "blank-line")
            continue
        parts = line.split("\t")
        if len(parts) != len(header):
            raise DataError(
                f"{path}: line {lineno} has {len(parts)} tab-separated columns, the header has {len(header)}"
            )
        values = [parts[p] for p in pos]
        out.append(values[0], values[1], values[2] if cols[2] else "", f"{path.name}:{lineno}")


def _read_jsonl(path: Path, text: str, cols: tuple[str, str, str | None], out: Pairs, tally: Tally) -> None:
    roles = ("source", "target", "document")
    for lineno, line in enumerate(_lines(text), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"{path}: line {lineno} is not valid JSON ({exc.msg})") from None
        if not isinstance(record, dict):
            raise DataError(f"{path}: line {lineno} is a JSON {type(record).__name__}, expected an object")
        values = []
        for name, role in zip(cols, roles):
            if name is None:
                values.append("")
                continue
            if name not in record or record[name] is None:
                raise DataError(
                    f"{path}: line {lineno} has no {role} field {name!r} (missing or null; "
                    f"fields: {', '.join(sorted(record)[:10]) or 'none'})"
                )
            values.append(
                _check_value(record[name], path, f"line {lineno}", name, role + " field")
                if role != "document"
                else str(record[name])
            )
        out.append(values[0], values[1], values[2], f"{path.name}:{lineno}")


def _read_csv(path: Path, text: str, cols: tuple[str, str, str | None], out: Pairs, tally: Tally) -> None:
    csv.field_size_limit(min(sys.maxsize, 1 << 30))
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader, None)
        if header is None:
            raise DataError(f"{path}: empty CSV file (no header row)")
        wanted = [c for c in cols if c is not None]
        missing = [c for c in wanted if c not in header]
        if missing:
            raise DataError(f"{path}: no column {missing[0]!r} in the CSV header (columns: {', '.join(header[:10])})")
        pos = [header.index(c) for c in wanted]
        prev = reader.line_num
        for row in reader:
            lineno = prev + 1  # the physical line where the record starts
            prev = reader.line_num
            if not row or (len(row) == 1 and not row[0].strip()):
                continue
            for c, p in zip(wanted, pos):
                if p >= len(row):
                    role = "source" if c == cols[0] else "target" if c == cols[1] else "document"
                    raise DataError(
                        f"{path}: line {lineno} has {len(row)} field{'s' if len(row) != 1 else ''}: "
                        f"no {role} column {c!r} (field {p + 1} of the header)"
                    )
            values = [row[p] for p in pos]
            out.append(values[0], values[1], values[2] if cols[2] else "", f"{path.name}:{lineno}")
    except csv.Error as exc:
        raise DataError(f"{path}: malformed CSV near line {reader.line_num} ({exc})") from None


def _read_parquet(path: Path, cols: tuple[str, str, str | None], out: Pairs) -> None:
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(path)
        names = pf.schema_arrow.names
        wanted = [c for c in cols if c is not None]
        missing = [c for c in wanted if c not in names]
        if missing:
            raise DataError(f"{path}: no column {missing[0]!r} (columns: {', '.join(names[:10])})")
        table = pf.read(columns=wanted)
    except DataError:
        raise
    except Exception as exc:  # pyarrow raises several types for damaged files
        raise DataError(f"{path}: cannot read Parquet ({exc})") from None
    columns = [table.column(c).to_pylist() for c in wanted]
    roles = ("source", "target", "document")
    for i in range(table.num_rows):
        values = []
        for name, role, col in zip(wanted, roles, columns):
            v = col[i]
            values.append(
                str(v)
                if role == "document" and v is not None
                else _check_value(v, path, f"row {i}", name, role + " column")
            )
        out.append(values[0], values[1], values[2] if cols[2] else "", f"{path.name}:row{i}")


def moses_files(
    folder: Path, src_lang: str | None, tgt_lang: str | None
) -> tuple[str, str, list[tuple[str, Path, Path]]]:
    """(src_lang, tgt_lang, [(name, source file, target file)]) of a Moses-style folder."""
    try:
        files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".") and p.suffix)
    except OSError as exc:
        raise DataError(f"{folder}: cannot list folder ({exc.strerror or exc})") from None
    suffixes = sorted({p.suffix[1:] for p in files})
    if src_lang is None or tgt_lang is None:
        if len(suffixes) != 2:
            raise ConfigError(
                f"{folder}: give the languages as {folder.name}:SRC_LANG,TGT_LANG (the folder's files "
                f"have suffixes {', '.join('.' + s for s in suffixes) or 'none'})"
            )
        raise ConfigError(
            f"{folder}: which side is the source? give {folder.name}:{suffixes[0]},{suffixes[1]} or "
            f"{folder.name}:{suffixes[1]},{suffixes[0]}"
        )
    if src_lang == tgt_lang:
        raise ConfigError(f"{folder}: source and target language are both {src_lang!r}")
    src = {p.stem: p for p in files if p.suffix == f".{src_lang}"}
    tgt = {p.stem: p for p in files if p.suffix == f".{tgt_lang}"}
    if not src and not tgt:
        raise DataError(
            f"{folder}: no *.{src_lang} or *.{tgt_lang} files (suffixes here: "
            f"{', '.join('.' + s for s in suffixes) or 'none'})"
        )
    for name in sorted(set(src) ^ set(tgt)):
        have, lacks = (src[name], f"{name}.{tgt_lang}") if name in src else (tgt[name], f"{name}.{src_lang}")
        raise DataError(f"{have}: no matching {lacks} in {folder} (line-aligned files come in pairs)")
    return src_lang, tgt_lang, [(name, src[name], tgt[name]) for name in sorted(src)]


def _read_moses(folder: Path, src_lang: str, tgt_lang: str, encoding: str, out: Pairs) -> None:
    _, _, groups = moses_files(folder, src_lang, tgt_lang)
    for name, sp, tp in groups:
        s_lines = _lines(_decode(sp, _read_bytes(sp), encoding))
        t_lines = _lines(_decode(tp, _read_bytes(tp), encoding))
        if len(s_lines) != len(t_lines):
            raise DataError(
                f"{sp} has {len(s_lines)} lines but {tp} has {len(t_lines)}: line-aligned files must "
                "have the same number of lines"
            )
        for lineno, (s, t) in enumerate(zip(s_lines, t_lines), start=1):
            out.append(s, t, name, f"{name}:{lineno}")


def parse_pairs_spec(spec: str) -> tuple[Path, str, str | None]:
    """(path, format, column/language names or None) of a pairs SPEC (see the module docstring)."""
    from arlm.data.sources import split_path_column

    if not isinstance(spec, str) or not spec.strip():
        raise ConfigError("pairs spec is empty: give FILE.tsv, FILE.jsonl:SRC,TGT, ... or a folder")
    path, cols = split_path_column(spec.strip())
    if path.is_dir():
        return path, "moses", cols
    suffix = path.suffix.lower()
    fmt = {".tsv": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv", ".parquet": "parquet"}.get(suffix)
    if fmt is None:
        raise ConfigError(
            f"{path}: unknown pairs format {suffix or '(no suffix)'!r}: give a .tsv, .jsonl, .csv "
            "or .parquet file, or a folder of line-aligned NAME.SRC/NAME.TGT files"
        )
    if fmt in ("jsonl", "csv", "parquet") and cols is None:
        raise ConfigError(f"{path}: name the source and target columns as {path.name}:SOURCE,TARGET")
    return path, fmt, cols


def read_pairs(
    spec: str,
    src_lang: str | None = None,
    tgt_lang: str | None = None,
    encoding: str = "utf-8",
    tally: Tally | None = None,
) -> Pairs:
    """Every pair of ``spec`` as read (not cleaned); see the module docstring for SPECs and errors.

    ``src_lang``/``tgt_lang`` are recorded on the result (default: the column names, or the
    languages of a Moses spec); a Moses folder uses them (or the languages in its spec) to find
    its files. Blank lines of a TSV are skipped and counted in
    ``tally`` (``skipped:blank-line``)."""
    tally = tally if tally is not None else Tally()
    path, fmt, cols = parse_pairs_spec(spec)
    out = Pairs(src_lang=src_lang, tgt_lang=tgt_lang, spec=spec)
    if fmt == "moses":
        if cols is not None:
            langs = [c.strip() for c in cols.split(",")]
            if len(langs) != 2 or not all(langs):
                raise ConfigError(f"{path}: give the languages as {path.name}:SRC_LANG,TGT_LANG, got {cols!r}")
            src_lang, tgt_lang = langs
        src_lang, tgt_lang, _ = moses_files(path, src_lang, tgt_lang)
        out.src_lang, out.tgt_lang = src_lang, tgt_lang
        _read_moses(path, src_lang, tgt_lang, encoding, out)
    elif fmt == "parquet":
        names = _columns(cols, path)
        out.src_lang, out.tgt_lang = src_lang or names[0], tgt_lang or names[1]  # type: ignore[index]
        _read_parquet(path, names, out)  # type: ignore[arg-type]
    else:
        text = _decode(path, _read_bytes(path), encoding)
        names = _columns(cols, path)
        if names is not None:  # the languages default to the column names ("en", "es")
            out.src_lang, out.tgt_lang = src_lang or names[0], tgt_lang or names[1]
        if fmt == "tsv":
            if names is None:
                _read_tsv_plain(path, text, out, tally)
            else:
                _read_tsv_header(path, text, names, out, tally)
        elif fmt == "jsonl":
            _read_jsonl(path, text, names, out, tally)  # type: ignore[arg-type]
        else:
            _read_csv(path, text, names, out, tally)  # type: ignore[arg-type]
    if not len(out):
        raise DataError(f"{path}: no sentence pairs")
    for side, values in (("target", out.tgt), ("source", out.src)):
        if not any(v.strip() for v in values):
            raise DataError(f"{path}: the {side} column is empty on all {len(out)} lines")
    tally.add("read-pairs", len(out))
    return out


# -- cleaning -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PairCleaning:
    """What ``clean_pairs`` drops. Lengths are in characters, after whitespace is collapsed.

    ``max_ratio``: the longer side may be at most this many times the shorter one, checked when
    the longer side has at least ``ratio_min_chars`` characters (short pairs vary a lot: "Amen."
    / "Así sea."); 0 turns the check off. ``max_chars`` 0 turns the length limit off.
    """

    max_chars: int = 1000
    max_ratio: float = 3.0
    ratio_min_chars: int = 20
    dedup: bool = True
    normalize: str = "NFC"
    strip_control: bool = True

    def __post_init__(self) -> None:
        if self.max_chars < 0 or self.ratio_min_chars < 0:
            raise ConfigError("pair cleaning: max_chars and ratio_min_chars must be >= 0")
        if self.max_ratio != 0 and self.max_ratio < 1:
            raise ConfigError(f"pair cleaning: max_ratio must be >= 1 (or 0: off), got {self.max_ratio}")
        if self.normalize not in ("NFC", "none"):
            raise ConfigError(f"pair cleaning: normalize must be 'NFC' or 'none', got {self.normalize!r}")


def normalize_sentence(text: str, policy: Policy) -> str:
    """NFC and control characters (the corpus ingester's ``normalize_text``), then every run of
    whitespace (newlines and tabs included) as one space, trimmed: one sentence, one line."""
    return _WS.sub(" ", normalize_text(text, policy)).strip()


def clean_pairs(pairs: Pairs, cfg: PairCleaning = PairCleaning(), tally: Tally | None = None) -> tuple[Pairs, Tally]:
    """The pairs that pass ``cfg``, normalized, in their order, and the count of each decision
    (``skipped:empty-source``, ``skipped:empty-target``, ``skipped:longer-than-max_chars``,
    ``skipped:length-ratio``, ``skipped:duplicate-pair``, ``kept-pairs``)."""
    tally = tally if tally is not None else Tally()
    policy = Policy(normalize=cfg.normalize, strip_control=cfg.strip_control)
    out = Pairs(src_lang=pairs.src_lang, tgt_lang=pairs.tgt_lang, spec=pairs.spec)
    seen: set[bytes] = set()
    for s, t, d, o in zip(pairs.src, pairs.tgt, pairs.doc, pairs.origin):
        s, t = normalize_sentence(s, policy), normalize_sentence(t, policy)
        if not s:
            tally.skip(o, "empty-source")
            continue
        if not t:
            tally.skip(o, "empty-target")
            continue
        ls, lt = len(s), len(t)
        if cfg.max_chars and max(ls, lt) > cfg.max_chars:
            tally.skip(o, "longer-than-max_chars")
            continue
        if cfg.max_ratio and max(ls, lt) >= cfg.ratio_min_chars and max(ls, lt) > cfg.max_ratio * min(ls, lt):
            tally.skip(o, "length-ratio")
            continue
        if cfg.dedup:
            key = hashlib.sha256(f"{s}\t{t}".encode()).digest()
            if key in seen:
                tally.skip(o, "duplicate-pair")
                continue
            seen.add(key)
        out.append(s, t, d, o)
    tally.add("kept-pairs", len(out))
    return out, tally


# -- splitting ----------------------------------------------------------------------------------

MIN_DOCUMENTS = 10  # ``by="auto"`` splits by document from this many documents on


def pair_id(src: str, tgt: str) -> str:
    return hashlib.sha256(f"{src}\t{tgt}".encode()).hexdigest()


def assign_documents(sizes: dict[str, int], val_fraction: float, test_fraction: float, seed: int) -> dict[str, str]:
    """Document -> split, whole documents only, close to the pair fractions.

    Documents are taken in the order of their seeded hash (``hash_unit``); each goes to validation,
    else test, while that split is below its share of the pairs and the document keeps it under
    1.5 x the share; the rest train. A held-out split left empty (every document too large) takes
    the smallest training document, as long as training keeps one."""
    total = sum(sizes.values())
    target = {"val": val_fraction * total, "test": test_fraction * total}
    counts = {"val": 0, "test": 0}
    out: dict[str, str] = {}
    for doc in sorted(sizes, key=lambda d: (hash_unit(d, seed), d)):
        out[doc] = "train"
        for split in ("val", "test"):
            t = target[split]
            if t > 0 and counts[split] < t and counts[split] + sizes[doc] <= 1.5 * t:
                out[doc] = split
                counts[split] += sizes[doc]
                break
    for split in ("val", "test"):
        train_docs = [d for d, s in out.items() if s == "train"]
        if target[split] > 0 and counts[split] == 0 and len(train_docs) > 1:
            smallest = min(train_docs, key=lambda d: (sizes[d], hash_unit(d, seed), d))
            out[smallest] = split
            counts[split] += sizes[smallest]
    return out


def split_pairs(
    pairs: Pairs, val_fraction: float = 0.05, test_fraction: float = 0.05, seed: int = 0, by: str = "auto"
) -> tuple[dict[str, Pairs], dict]:
    """({split: Pairs}, stats) with whole documents in one split (``by="document"``), or each pair
    by the hash of its text (``by="pair"``: the corpus ingester's rule, with its guard that fills an
    empty held-out split). ``"auto"``: by document when the pairs carry at least ``MIN_DOCUMENTS``
    documents, else by pair. Deterministic for a seed; stats hold the rule, the pair and document
    counts per split and, by document, each document's split."""
    if by not in ("auto", "document", "pair"):
        raise ConfigError(f"split_pairs: by must be 'auto', 'document' or 'pair', got {by!r}")
    if not (0 <= val_fraction < 1 and 0 <= test_fraction < 1 and val_fraction + test_fraction < 1):
        raise ConfigError(f"split fractions must be in [0, 1) and sum below 1, got {val_fraction} + {test_fraction}")
    docs = pairs.documents
    if by == "auto":
        by = "document" if len(docs) >= MIN_DOCUMENTS and all(pairs.doc) else "pair"
    if by == "document":
        if not all(pairs.doc):
            raise ConfigError(
                "split_pairs: by='document' needs a document for every pair (a DOC column, or a "
                "Moses folder with one file pair per document)"
            )
        sizes = Counter(pairs.doc)
        doc_split = assign_documents(dict(sizes), val_fraction, test_fraction, seed)
        labels = [doc_split[d] for d in pairs.doc]
    else:
        doc_split = {}
        guard = HeldOutGuard(val_fraction, test_fraction)
        labels = []
        for i, (s, t) in enumerate(zip(pairs.src, pairs.tgt)):
            pid = pair_id(s, t)
            u = hash_unit(pid, seed)
            labels.append(assign_split(u, val_fraction, test_fraction))
            if labels[-1] == "train":
                guard.observe(u, i, pid)
        for split, index, _ in guard.moves(Counter(labels)):
            labels[index] = split
    out = {split: pairs.select(i for i, lab in enumerate(labels) if lab == split) for split in SPLITS}
    stats = {
        "by": by,
        "seed": seed,
        "splits": {s: {"pairs": len(p), "documents": len(p.documents)} for s, p in out.items()},
    }
    if by == "document":
        stats["documents"] = doc_split
    return out, stats


# -- writing ------------------------------------------------------------------------------------


def _tsv_field(value: str, where: str) -> str:
    if "\t" in value or "\n" in value or "\r" in value:
        raise DataError(f"{where}: a tab or newline inside a sentence cannot be written as TSV (clean the pairs first)")
    return value


def write_pairs_tsv(
    pairs: Pairs,
    path: str | os.PathLike,
    header: bool = True,
    doc_column: str | None = "doc",
    origin_column: str | None = None,
) -> Path:
    """Write ``pairs`` as UTF-8 TSV, atomically. With ``header``: a header row, then per pair the
    document (``doc_column``, None: left out), the origin (``origin_column``, None: left out), and
    the source and target under their language names (``src``/``tgt`` when unknown): read back
    with ``FILE.tsv:SRC,TGT[,DOC]``. Without: exactly source<TAB>target (the ``FILE.tsv`` form)."""
    from arlm.versioning import atomic_write_bytes

    names = [pairs.src_lang or "src", pairs.tgt_lang or "tgt"]
    extra = [c for c in (doc_column, origin_column) if c] if header else []
    lines: list[str] = ["\t".join(extra + names)] if header else []
    for i, (s, t, d, o) in enumerate(zip(pairs.src, pairs.tgt, pairs.doc, pairs.origin)):
        where = o or f"pair {i}"
        row = ([d] if header and doc_column else []) + ([o] if header and origin_column else []) + [s, t]
        lines.append("\t".join(_tsv_field(v, where) for v in row))
    path = Path(path)
    atomic_write_bytes(path, ("\n".join(lines) + "\n").encode("utf-8"))
    return path


def iter_pair_texts(pairs: Pairs) -> Iterator[str]:
    """Every sentence of both sides (e.g. to train a joint tokenizer)."""
    yield from pairs.src
    yield from pairs.tgt
