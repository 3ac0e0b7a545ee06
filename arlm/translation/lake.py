"""Parallel corpora in the lake: a pairs SPEC -> a corpus version -> a pair token dataset.

``ingest_pairs(cfg, home)`` reads a SPEC (``arlm.translation.pairs.read_pairs``: TSV, JSONL, CSV,
Parquet, a Moses folder, or the named corpus ``bible-en-es``), cleans the pairs (``clean_pairs``)
and splits them with whole documents per split (``split_pairs``), into ``home.lake/<id>/``: the
same folder a monolingual ingest writes (``arlm.data.lake``), so ``load_corpus_version``, the
catalog's ``record_corpus_version`` and the tokenizer stage take it unchanged:

- ``part-<split>-00000.parquet``: the lake's columns (``doc_id``, ``source``, ``uri``, ``text``,
  ``n_bytes``, ``split``) with ``text`` = source + "\\n" + target (a tokenizer built on ``text``
  is a joint one, over both languages), plus ``src``, ``tgt`` and ``doc`` (the pair's document);
  ``uri`` is where the pair was read (``file:line``), ``doc_id`` the sha256 of ``text``;
- ``corpus.json``: ``task`` "translation", ``src_lang``/``tgt_lang`` (also in ``config``), the
  stats (per split ``n_docs`` = pairs, ``n_bytes`` = UTF-8 bytes of ``text``, source/target bytes,
  documents), the cleaning tally and how the split was made;
- ``sources.json``: the input files (size, mtime, sha256) and the pairs each gave.

The id is the hash of the input files' contents (sha256) and of the config, so an unchanged input
is a no-op (``reused=True``) and an edited file gives a new version. Everything is read and checked
before the folder is written, under a temporary name renamed when complete (``atomic_dir``): bad
input leaves the lake as it was.

``tokenize_pairs(cv, src_art, tgt_art, out_root)`` encodes each split's sources and targets with
their tokenizers (one artifact for both when joint) into a pair token dataset
(``arlm.translation.dataset``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from arlm.errors import ConfigError, DataError
from arlm.options import opt
from arlm.translation.pairs import SPLITS, PairCleaning, Pairs

TASK = "translation"
KIND = "pairs"  # corpora.kind in the catalog
PAIR_LAKE_FORMAT = "arlm-pairs-1"
PAIR_COLUMNS = ("src", "tgt", "doc")
BIBLE = "bible-en-es"
BIBLE_LANGS = ("en", "es")
NAMED_PAIRS = (BIBLE,)

Progress = Callable[[str], None]


@dataclass(frozen=True)
class PairIngestConfig:
    """What to ingest as sentence pairs and how to clean and split them: the one declaration of each
    setting (the CLI and the flows derive their options from these fields with ``arlm.options``).
    Every field decides the output, so all of them are hashed into the version id."""

    corpus: str = opt(
        BIBLE,
        "Parallel corpus SPEC: bible-en-es (English-Spanish Bible verses from Debian's SWORD modules, built "
        "once into the home's cache) | FILE.tsv (source<TAB>target) | FILE.tsv:SRC,TGT[,DOC] (header row) | "
        "FILE.jsonl:SRC,TGT[,DOC] | FILE.csv:SRC,TGT[,DOC] | FILE.parquet:SRC,TGT[,DOC] | DIR[:SRC_LANG,TGT_LANG] "
        "(line-aligned NAME.SRC_LANG / NAME.TGT_LANG files, Moses style).",
    )
    src_lang: str = opt(
        "en", "Source language code (a Moses folder's source suffix unless its SPEC names the languages)."
    )
    tgt_lang: str = opt(
        "es", "Target language code (a Moses folder's target suffix unless its SPEC names the languages)."
    )
    val_fraction: float = opt(0.05, "Share of pairs held out for validation (whole documents where there are any).")
    test_fraction: float = opt(0.05, "Share of pairs held out for test (whole documents where there are any).")
    seed: int = opt(0, "Salt of the hash that assigns documents (or pairs) to splits.")
    split_by: str = opt(
        "auto",
        "auto: by document when every pair has one and there are at least 10, else by pair; document: whole "
        "documents per split; pair: each pair by the hash of its text.",
        choices=("auto", "document", "pair"),
    )
    max_chars: int = opt(1000, "Pairs with a side longer than this many characters are dropped (0: no limit).")
    max_ratio: float = opt(
        3.0, "Pairs whose longer side is more than this many times the shorter one are dropped (0: no check)."
    )
    ratio_min_chars: int = opt(20, "The length ratio is checked only when the longer side has this many characters.")
    dedup: bool = opt(True, "Drop exact duplicate pairs (same source and target after normalization).")
    normalize: str = opt("NFC", "Unicode normalization of both sides.", choices=("NFC", "none"))
    strip_control: bool = opt(True, "Remove control characters from both sides.")
    encoding: str = opt("utf-8", "Text encoding of the input files (a byte order mark is honoured).")

    def __post_init__(self) -> None:
        if not isinstance(self.corpus, str) or not self.corpus.strip():
            raise ConfigError("pair corpus spec is empty: give bible-en-es, FILE.tsv, FILE.jsonl:SRC,TGT or a folder")
        for name in ("src_lang", "tgt_lang"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value.strip() or any(c in value for c in ",:/\\ \t"):
                raise ConfigError(f"{name} must be a language code such as 'en', got {value!r}")
        if not (0 <= self.val_fraction < 1 and 0 <= self.test_fraction < 1):
            raise ConfigError(
                f"val_fraction and test_fraction must be in [0, 1), got {self.val_fraction} and {self.test_fraction}"
            )
        if self.val_fraction + self.test_fraction >= 1:
            raise ConfigError(
                f"val_fraction + test_fraction must be < 1 (got {self.val_fraction} + {self.test_fraction})"
            )
        if self.split_by not in ("auto", "document", "pair"):
            raise ConfigError(f"split_by must be 'auto', 'document' or 'pair', got {self.split_by!r}")
        self.cleaning()  # PairCleaning checks its own fields
        from arlm.data.cleaning import canonical_encoding

        try:
            canonical_encoding(self.encoding)
        except (LookupError, TypeError):
            raise ConfigError(
                f"unknown text encoding {self.encoding!r}: give a Python codec name such as utf-8"
            ) from None

    def cleaning(self) -> PairCleaning:
        return PairCleaning(
            max_chars=self.max_chars,
            max_ratio=self.max_ratio,
            ratio_min_chars=self.ratio_min_chars,
            dedup=self.dedup,
            normalize=self.normalize,
            strip_control=self.strip_control,
        )

    def output_fields(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# -- where the pairs come from ----------------------------------------------------------------------


@dataclass
class _Source:
    spec: str  # canonical: a named corpus, or an absolute path (with its columns / languages)
    read_spec: str  # what read_pairs reads
    src_lang: str | None
    tgt_lang: str | None
    files: list[Path]  # the input files, in a stable order
    base: Path  # file names are recorded relative to this


def bible_tsv(home, progress: Progress | None = None) -> Path:
    """``home.cache/bible-en-es/bible-en-es.tsv``, exported from the SWORD modules the first time
    (``build_bible_en_es``: minutes; it says what to install where diatheke or the modules are
    missing) and reused afterwards. Written atomically: a killed export leaves no file."""
    out = Path(home.cache) / BIBLE / f"{BIBLE}.tsv"
    if out.is_file():
        return out
    from arlm.translation.bible import build_bible_en_es

    if progress is not None:
        progress(f"[pairs] exporting {BIBLE} from the SWORD modules into {out} (once)")
    build = build_bible_en_es(out)
    if progress is not None:
        progress(f"[pairs] {BIBLE}: {len(build.pairs):,} verse pairs")
    return out


def _resolve(cfg: PairIngestConfig, home, progress: Progress | None) -> _Source:
    from arlm.translation.pairs import moses_files, parse_pairs_spec

    spec = cfg.corpus.strip()
    if spec == BIBLE:
        langs = (cfg.src_lang, cfg.tgt_lang)
        if set(langs) != set(BIBLE_LANGS):
            raise ConfigError(
                f"{BIBLE} holds English and Spanish: give src_lang/tgt_lang en/es or es/en, got "
                f"{cfg.src_lang}/{cfg.tgt_lang}"
            )
        tsv = bible_tsv(home, progress)
        return _Source(BIBLE, f"{tsv}:{langs[0]},{langs[1]},book", langs[0], langs[1], [tsv], tsv.parent)
    path, fmt, cols = parse_pairs_spec(spec)
    path = Path(os.path.abspath(path))
    canonical = f"{path}:{cols}" if cols is not None else str(path)
    if fmt != "moses":
        return _Source(canonical, canonical, cfg.src_lang, cfg.tgt_lang, [path], path.parent)
    src_lang, tgt_lang = cfg.src_lang, cfg.tgt_lang
    if cols is not None:
        langs = [c.strip() for c in cols.split(",")]
        if len(langs) != 2 or not all(langs):
            raise ConfigError(f"{path}: give the languages as {path.name}:SRC_LANG,TGT_LANG, got {cols!r}")
        src_lang, tgt_lang = langs
    src_lang, tgt_lang, groups = moses_files(path, src_lang, tgt_lang)
    canonical = f"{path}:{src_lang},{tgt_lang}"
    files = [f for _, sp, tp in groups for f in (sp, tp)]
    return _Source(canonical, canonical, src_lang, tgt_lang, files, path)


def _file_entry(path: Path, base: Path) -> dict[str, Any]:
    h = hashlib.sha256()
    try:
        st = path.stat()
        with open(path, "rb") as f:
            while block := f.read(1 << 20):
                h.update(block)
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise DataError(f"{path}: is a folder, expected a file") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror or exc})") from None
    return {
        "name": os.path.relpath(path, base),
        "uri": str(path),
        "size": st.st_size,
        "mtime_ns": st.st_mtime_ns,
        "sha256": h.hexdigest(),
    }


def pair_version_id(cfg: PairIngestConfig, spec: str, inputs: list[dict[str, Any]]) -> str:
    """The version id: the input files' names and sha256, the config (with the canonical SPEC), the format."""
    from arlm.versioning import content_hash

    config = {**cfg.output_fields(), "corpus": spec}
    files = [(e["name"], e["sha256"]) for e in inputs]
    return content_hash({"task": TASK, "format": PAIR_LAKE_FORMAT, "inputs": files, "config": config})


# -- ingest ---------------------------------------------------------------------------------------------


def ingest_pairs(cfg: PairIngestConfig, home=None, progress: Progress | None = None):
    """Ingest ``cfg.corpus`` as sentence pairs into ``home``'s lake; returns the (new or reused)
    ``arlm.data.lake.CorpusVersion``. Bad input raises an ``ArlmError`` naming the file and line,
    before anything is visible in the lake. ``progress`` gets one-line messages (the export of
    ``bible-en-es``, the first time: a few seconds to minutes)."""
    from arlm.data.ingest import OWNER_FILE, remove_dead_tmp
    from arlm.data.lake import load_corpus_version
    from arlm.home import Home, get_home
    from arlm.versioning import atomic_dir, atomic_write_json

    home = home if isinstance(home, Home) else get_home(home)
    started = time.perf_counter()
    source = _resolve(cfg, home, progress)
    inputs = [_file_entry(p, source.base) for p in source.files]
    vid = pair_version_id(cfg, source.spec, inputs)
    final = home.lake / vid
    if (final / "corpus.json").exists():
        cv = load_corpus_version(home, vid)
        cv.reused = True
        return cv
    splits, split_stats, tally, pairs_read = _read_clean_split(cfg, source)
    home.ensure()
    remove_dead_tmp(home.lake)
    with atomic_dir(final) as tmp:
        atomic_write_json(tmp / OWNER_FILE, {"pid": os.getpid(), "host": socket.gethostname(), "started": time.time()})
        _write_version(cfg, source, inputs, vid, tmp, splits, split_stats, tally, pairs_read, started)
        (tmp / OWNER_FILE).unlink()
    return load_corpus_version(home, vid)


def _read_clean_split(cfg: PairIngestConfig, source: _Source):
    from arlm.data.cleaning import Tally
    from arlm.translation.pairs import clean_pairs, read_pairs, split_pairs

    tally = Tally()
    pairs = read_pairs(source.read_spec, source.src_lang, source.tgt_lang, encoding=cfg.encoding, tally=tally)
    pairs_read = len(pairs)
    kept, tally = clean_pairs(pairs, cfg.cleaning(), tally)
    if not len(kept):
        raise DataError(f"{source.spec}: no sentence pairs left after cleaning ({_why(tally)})")
    splits, split_stats = split_pairs(kept, cfg.val_fraction, cfg.test_fraction, cfg.seed, by=cfg.split_by)
    _check_splits(source.spec, cfg, splits, split_stats)
    return splits, split_stats, tally, pairs_read


def _why(tally) -> str:
    reasons = {k.split(":", 1)[1]: v for k, v in tally.counts.items() if k.startswith("skipped:")}
    return "skipped: " + ", ".join(f"{v} {k}" for k, v in sorted(reasons.items(), key=lambda kv: -kv[1]))


def _check_splits(spec: str, cfg: PairIngestConfig, splits: dict[str, Pairs], stats: dict) -> None:
    """Refuse pairs whose train split, or a held-out split with a non-zero fraction, would be empty."""
    needed = ["train"] + [s for s, f in (("val", cfg.val_fraction), ("test", cfg.test_fraction)) if f > 0]
    empty = [s for s in needed if not len(splits[s])]
    if not empty:
        return
    counts = ", ".join(f"{s} {len(splits[s])}" for s in SPLITS)
    unit = "documents" if stats.get("by") == "document" else "pairs"
    n_units = len(stats.get("documents", {})) if unit == "documents" else sum(len(p) for p in splits.values())
    raise DataError(
        f"{spec}: {n_units} {unit} after cleaning ({counts} pairs): the {' and '.join(empty)} split"
        f"{'s' if len(empty) > 1 else ''} would be empty; give more pairs, other split fractions"
        + (", or split_by 'pair'" if unit == "documents" else "")
    )


def _table(pairs: Pairs, split: str, spec: str):
    import pyarrow as pa

    from arlm.data.parts import parquet_schema

    texts = [f"{s}\n{t}" for s, t in zip(pairs.src, pairs.tgt)]
    encoded = [t.encode("utf-8") for t in texts]
    schema = parquet_schema()
    for name in PAIR_COLUMNS:
        schema = schema.append(pa.field(name, pa.string()))
    n = len(pairs)
    return pa.Table.from_arrays(
        [
            pa.array([hashlib.sha256(b).hexdigest() for b in encoded], pa.string()),
            pa.array([spec] * n, pa.string()),
            pa.array(pairs.origin, pa.string()),
            pa.array(texts, pa.string()),
            pa.array([len(b) for b in encoded], pa.int64()),
            pa.array([split] * n, pa.string()),
            pa.array(pairs.src, pa.string()),
            pa.array(pairs.tgt, pa.string()),
            pa.array(pairs.doc, pa.string()),
        ],
        schema=schema,
    )


def _write_version(
    cfg: PairIngestConfig,
    source: _Source,
    inputs: list[dict[str, Any]],
    vid: str,
    tmp: Path,
    splits: dict[str, Pairs],
    split_stats: dict,
    tally,
    pairs_read: int,
    started: float,
) -> None:
    import pyarrow.parquet as pq

    from arlm.data.lake import LAKE_FORMAT
    from arlm.data.parts import part_name
    from arlm.versioning import atomic_write_json, content_hash

    files: dict[str, list[str]] = {s: [] for s in SPLITS}
    per_split: dict[str, dict[str, int]] = {}
    for split in SPLITS:
        p = splits[split]
        src_bytes = sum(len(s.encode("utf-8")) for s in p.src)
        tgt_bytes = sum(len(t.encode("utf-8")) for t in p.tgt)
        per_split[split] = {
            "n_docs": len(p),  # the lake's unit: here a pair
            "n_bytes": src_bytes + tgt_bytes + len(p),  # the text column: source "\n" target
            "n_pairs": len(p),
            "n_documents": len(p.documents),
            "src_bytes": src_bytes,
            "tgt_bytes": tgt_bytes,
        }
        if not len(p):
            continue
        name = part_name(split, 0)
        pq.write_table(
            _table(p, split, source.spec),
            tmp / name,
            compression="zstd",
            row_group_size=50_000,
            use_dictionary=["source", "split", "doc"],
        )
        files[split].append(name)
    skipped = {k.split(":", 1)[1]: v for k, v in sorted(tally.counts.items()) if k.startswith("skipped:")}
    cleaning = {
        "policy": dataclasses.asdict(cfg.cleaning()),
        "pairs_read": pairs_read,
        "pairs_kept": sum(len(p) for p in splits.values()),
        "skipped": skipped,
        "counts": dict(sorted(tally.counts.items())),
        "examples": [list(x) for x in tally.skipped[:50]],
    }
    stats = {
        "splits": per_split,
        "n_docs": sum(s["n_docs"] for s in per_split.values()),
        "n_bytes": sum(s["n_bytes"] for s in per_split.values()),
        "n_pairs": sum(s["n_pairs"] for s in per_split.values()),
        "n_input_files": len(inputs),
        "n_input_bytes": sum(e["size"] for e in inputs),
        "split": split_stats,
        "cleaning": cleaning,
        "ingest_seconds": round(time.perf_counter() - started, 3),
    }
    src_lang = splits["train"].src_lang or cfg.src_lang
    tgt_lang = splits["train"].tgt_lang or cfg.tgt_lang
    config = {**cfg.output_fields(), "corpus": source.spec, "task": TASK, "src_lang": src_lang, "tgt_lang": tgt_lang}
    meta = {
        "id": vid,
        "spec": source.spec,
        "kind": KIND,
        "task": TASK,
        "src_lang": src_lang,
        "tgt_lang": tgt_lang,
        "config": config,
        "stats": stats,
        "files": files,
        "python_version": None,
        "manifest_hash": content_hash([(e["name"], e["sha256"]) for e in inputs]),
        "format": LAKE_FORMAT,
        "pair_format": PAIR_LAKE_FORMAT,
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    kept_by_file = _kept_by_file(source, inputs, splits)
    atomic_write_json(
        tmp / "sources.json",
        {
            "entries": [
                {"uri": e["uri"], "size": e["size"], "mtime_ns": e["mtime_ns"], "sha256": e["sha256"]} for e in inputs
            ],
            "outcomes": [
                {
                    "uri": e["uri"],
                    "n_docs": kept_by_file.get(e["uri"], 0),
                    "n_bytes": e["size"],
                    "reason": "" if kept_by_file.get(e["uri"], 0) else "no pairs kept",
                    "encoding": cfg.encoding,
                    "replaced": False,
                }
                for e in inputs
            ],
        },
    )
    atomic_write_json(tmp / "corpus.json", meta)


def _kept_by_file(source: _Source, inputs: list[dict[str, Any]], splits: dict[str, Pairs]) -> dict[str, int]:
    """Pairs kept from each input file (both files of a Moses pair count the pairs they gave)."""
    total = sum(len(p) for p in splits.values())
    if len(inputs) == 1:
        return {inputs[0]["uri"]: total}
    per_doc: dict[str, int] = {}
    for p in splits.values():
        for d in p.doc:
            per_doc[d] = per_doc.get(d, 0) + 1
    return {e["uri"]: per_doc.get(Path(e["uri"]).stem, 0) for e in inputs}


# -- reading back ---------------------------------------------------------------------------------------


def is_pair_corpus(cv) -> bool:
    """True when ``cv`` (a ``CorpusVersion``) is a translation corpus written by ``ingest_pairs``."""
    config = getattr(cv, "config", None) or {}
    if config.get("task") == TASK:
        return True
    try:
        from arlm.versioning import read_json

        return read_json(Path(cv.path) / "corpus.json").get("task") == TASK
    except (OSError, ValueError, AttributeError):
        return False


def require_pair_corpus(cv) -> None:
    if not is_pair_corpus(cv):
        raise DataError(
            f"corpus version {cv.id} ({cv.spec}) is not a translation corpus: ingest sentence pairs "
            "(a parallel corpus SPEC) for translation"
        )


def read_split_pairs(cv, split: str) -> Pairs:
    """The pairs of one split (source, target, document, origin), in the order they were written."""
    import pyarrow.parquet as pq

    from arlm.translation.pairs import Pairs

    require_pair_corpus(cv)
    if split not in SPLITS:
        raise ConfigError(f"unknown split {split!r} (expected one of {', '.join(SPLITS)})")
    config = cv.config or {}
    out = Pairs(src_lang=config.get("src_lang"), tgt_lang=config.get("tgt_lang"), spec=cv.spec)
    for path in cv.files.get(split, []):
        if not Path(path).is_file():
            raise DataError(f"{path}: corpus file is missing (was the corpus version deleted or moved?)")
        try:
            table = pq.read_table(path, columns=["src", "tgt", "doc", "uri"])
        except Exception as exc:  # pyarrow raises several types for a damaged file
            raise DataError(f"{path}: not a readable pair corpus part ({exc})") from None
        out.src += table.column("src").to_pylist()
        out.tgt += table.column("tgt").to_pylist()
        out.doc += table.column("doc").to_pylist()
        out.origin += table.column("uri").to_pylist()
    return out


# -- tokenize -------------------------------------------------------------------------------------------


def tokenize_pairs(cv, src_art, tgt_art, out_root):
    """A pair token dataset of ``cv``: each split's sources encoded with ``src_art``'s tokenizer, its
    targets with ``tgt_art``'s (the same artifact when joint). ``n_bytes`` of a split is the UTF-8
    size of its targets; ``<|endoftext|>`` serves as BOS and EOS, ``<|pad|>`` pads. Reused when the
    dataset of the same corpus version and tokenizers exists."""
    from arlm.translation.dataset import MANIFEST, PairTokenDataset, pair_dataset_id, write_pair_dataset

    require_pair_corpus(cv)
    out_root = Path(out_root)
    did = pair_dataset_id(cv.id, src_art.id, tgt_art.id)
    if (out_root / did / MANIFEST).exists():
        return PairTokenDataset.open(out_root / did, reused=True)
    src_tok = src_art.load()
    tgt_tok = src_tok if tgt_art.id == src_art.id else tgt_art.load()
    if (src_tok.eot_id, src_tok.pad_id) != (tgt_tok.eot_id, tgt_tok.pad_id):
        raise DataError(
            f"tokenizers {src_art.id} and {tgt_art.id} disagree on the special ids "
            f"(eot/pad {src_tok.eot_id}/{src_tok.pad_id} vs {tgt_tok.eot_id}/{tgt_tok.pad_id})"
        )
    splits = {}
    for split in SPLITS:
        pairs = read_split_pairs(cv, split)
        src_ids = src_tok.encode_batch(pairs.src) if len(pairs) else []
        tgt_ids = tgt_tok.encode_batch(pairs.tgt) if len(pairs) else []
        n_bytes = sum(len(t.encode("utf-8")) for t in pairs.tgt)
        splits[split] = (src_ids, tgt_ids, n_bytes)
    config = cv.config or {}
    return write_pair_dataset(
        out_root,
        corpus_id=cv.id,
        src_tokenizer_id=src_art.id,
        tgt_tokenizer_id=tgt_art.id,
        src_vocab_size=src_tok.vocab_size,
        vocab_size=tgt_tok.vocab_size,
        splits=splits,
        pad_id=tgt_tok.pad_id,
        bos_id=tgt_tok.eot_id,
        eos_id=tgt_tok.eot_id,
        meta={"src_lang": config.get("src_lang"), "tgt_lang": config.get("tgt_lang")},
    )


__all__ = [
    "PairIngestConfig",
    "ingest_pairs",
    "read_split_pairs",
    "is_pair_corpus",
    "tokenize_pairs",
    "bible_tsv",
    "pair_version_id",
    "TASK",
]
