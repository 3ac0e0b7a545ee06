"""Issue 14: parallel corpora from SPEC to pair token dataset through the stages, recorded in the
catalog (real Parquet, real tokenizers, real DuckDB); bad input changes neither the home nor the
catalog."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from arlm.catalog import Catalog
from arlm.errors import ConfigError, DataError
from arlm.tokenizers import TokenizerConfig
from arlm.translation.data_stages import ingest_pairs_stage, pair_tokenizer_stage, tokenize_pairs_stage
from arlm.translation.lake import PairIngestConfig, is_pair_corpus, read_split_pairs

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "bible-en-es-sample.tsv"
SPEC = f"{FIXTURE}:en,es,book"
N_PAIRS = 289
VOCAB = 512
quiet = lambda m: None  # noqa: E731
TABLES = ("corpora", "corpus_versions", "corpus_files", "source_files", "tokenizers", "token_datasets")


def _pipeline(home, sides: str = "joint", spec: str = SPEC) -> tuple[dict, dict, dict]:
    cv = ingest_pairs_stage(PairIngestConfig(corpus=spec), home, progress=quiet)
    tok = pair_tokenizer_stage(
        TokenizerConfig(vocab_size=VOCAB), cv["corpus_id"], home, tokenizer_sides=sides, progress=quiet
    )
    ds = tokenize_pairs_stage(cv["corpus_id"], tok["src_tokenizer_id"], tok["tokenizer_id"], home, progress=quiet)
    return cv, tok, ds


def _files(home) -> dict[str, list[tuple[str, int, int]]]:
    """Every file under the lake, tokenizers and tokens: (path, size, mtime)."""
    out = {}
    for base in (home.lake, home.tokenizers, home.tokens):
        out[base.name] = sorted(
            (str(p.relative_to(base)), p.stat().st_size, p.stat().st_mtime_ns) for p in base.rglob("*") if p.is_file()
        )
    return out


def _tables(home) -> dict[str, list[dict]]:
    """Every row of the tables the data stages write; timestamps left out (a rebuilt row is recorded anew)."""
    cat = Catalog(home.catalog_path)
    out = {}
    for t in TABLES:
        rows = [{k: v for k, v in r.items() if not k.endswith("_at")} for r in cat.rows(f"SELECT * FROM {t}")]
        out[t] = sorted(rows, key=lambda r: json.dumps(r, sort_keys=True, default=str))
    return out


def _snapshot(home) -> tuple[dict, dict]:
    return _files(home), _tables(home)


def _dataset(path):
    from arlm.translation.dataset import PairTokenDataset

    return PairTokenDataset.open(path)


# -- config ---------------------------------------------------------------------------------------------


def test_config_fields_derive_flow_parameters():
    from typing import Literal, get_args

    from pydantic import create_model

    from arlm.options import config_fields

    fields = config_fields(PairIngestConfig)
    assert list(fields)[:3] == ["corpus", "src_lang", "tgt_lang"]
    assert {"val_fraction", "test_fraction", "seed", "max_chars", "max_ratio", "dedup"} <= set(fields)
    ann, info = fields["split_by"]
    assert get_args(ann) == ("auto", "document", "pair") and ann == Literal["auto", "document", "pair"]
    assert info.description and fields["corpus"][1].default == "bible-en-es"
    params = create_model("PairParams", **fields)()
    assert PairIngestConfig(**params.model_dump()) == PairIngestConfig()
    for bad, word in (
        ({"val_fraction": 0.6, "test_fraction": 0.5}, "val_fraction"),
        ({"src_lang": ""}, "src_lang"),
        ({"max_ratio": 0.5}, "max_ratio"),
        ({"corpus": " "}, "empty"),
        ({"encoding": "no-such-codec"}, "encoding"),
    ):
        with pytest.raises(ConfigError, match=word):
            PairIngestConfig(**bad)


# -- the happy paths ------------------------------------------------------------------------------------


def test_joint_pipeline_then_rerun_reuses_everything(home):
    from arlm.data import load_corpus_version
    from arlm.data.parts import parquet_schema
    from arlm.tokenizers import TokenizerArtifact, build_tokenizer
    from arlm.versioning import content_hash

    cv_out, tok, ds_out = _pipeline(home)
    assert not cv_out["reused"] and (cv_out["src_lang"], cv_out["tgt_lang"]) == ("en", "es")
    stats = cv_out["stats"]
    assert stats["n_pairs"] == stats["n_docs"] == N_PAIRS and stats["split"]["by"] == "document"
    assert sum(s["n_docs"] for s in stats["splits"].values()) == N_PAIRS
    assert stats["cleaning"]["pairs_read"] == N_PAIRS

    cv = load_corpus_version(home, cv_out["corpus_id"])
    meta = json.loads((cv.path / "corpus.json").read_text())
    assert meta["task"] == cv.config["task"] == "translation"
    assert (meta["src_lang"], meta["tgt_lang"]) == (cv.config["src_lang"], cv.config["tgt_lang"]) == ("en", "es")
    assert is_pair_corpus(cv)
    table = pq.read_table(cv.files["train"][0])
    assert table.column_names == parquet_schema().names + ["src", "tgt", "doc"]
    row = table.slice(0, 1).to_pylist()[0]
    assert row["text"] == row["src"] + "\n" + row["tgt"] and row["n_bytes"] == len(row["text"].encode())
    assert row["split"] == "train" and row["doc"] and row["uri"].startswith(FIXTURE.name + ":")
    train = read_split_pairs(cv, "train")
    assert len(train) == cv.n_docs("train") and train.src[0] == row["src"] and train.src_lang == "en"

    # one tokenizer, the default `text` column: its id is the one it had before `column` existed
    assert tok["joint"] and tok["src_tokenizer_id"] == tok["tokenizer_id"] and tok["vocab_size"] == VOCAB
    cfg = TokenizerConfig(vocab_size=VOCAB)
    old_identity = cfg.model_dump(exclude={"column"})
    assert tok["tokenizer_id"] == content_hash(cv.id, old_identity)
    art = TokenizerArtifact.open(home.tokenizers / tok["tokenizer_id"])
    tokenizer = art.load()

    ds = _dataset(ds_out["path"])
    m = ds.manifest
    assert (m["src_lang"], m["tgt_lang"]) == ("en", "es") and ds.joint and ds.corpus_id == cv.id
    assert (ds.bos_id, ds.eos_id, ds.pad_id) == (0, 0, 1) == (tokenizer.eot_id, tokenizer.eot_id, tokenizer.pad_id)
    test = read_split_pairs(cv, "test")
    assert ds.n_pairs("test") == len(test) and ds.n_bytes("test") == sum(len(t.encode()) for t in test.tgt)
    src, tgt = ds.pairs("test", [0])
    assert tokenizer.decode(src[0]) == test.src[0] and tokenizer.decode(tgt[0]) == test.tgt[0]
    assert ds.n_tokens("test") == sum(int(n) for n in ds.lengths("test", "tgt")) + len(test)

    before = _snapshot(home)
    cv2, tok2, ds2 = _pipeline(home)
    assert cv2["reused"] and tok2["reused"] and ds2["reused"]
    assert (cv2["corpus_id"], tok2["tokenizer_id"], ds2["dataset_id"]) == (
        cv_out["corpus_id"],
        tok["tokenizer_id"],
        ds_out["dataset_id"],
    )
    assert _files(home) == before[0]  # nothing rewritten
    assert build_tokenizer(cfg, cv, home.tokenizers).reused


def test_separate_tokenizers_one_per_side(home, small_text_dir):
    from arlm import stages
    from arlm.data import IngestConfig, load_corpus_version
    from arlm.tokenizers import TokenizerArtifact

    cv_out, tok, ds_out = _pipeline(home, sides="separate")
    assert not tok["joint"] and tok["src_tokenizer_id"] != tok["tokenizer_id"]
    src_art = TokenizerArtifact.open(home.tokenizers / tok["src_tokenizer_id"])
    tgt_art = TokenizerArtifact.open(home.tokenizers / tok["tokenizer_id"])
    assert (src_art.meta["config"]["column"], tgt_art.meta["config"]["column"]) == ("src", "tgt")
    splits = cv_out["stats"]["splits"]
    assert src_art.meta["split_stats"]["train"]["n_bytes"] == splits["train"]["src_bytes"]
    assert tgt_art.meta["split_stats"]["train"]["n_bytes"] == splits["train"]["tgt_bytes"]
    ds = _dataset(ds_out["path"])
    assert not ds.joint and ds.src_tokenizer_id == src_art.id and ds.tokenizer_id == tgt_art.id
    assert ds.src_vocab_size == tok["src_vocab_size"] and ds.vocab_size == tok["vocab_size"]
    cv = load_corpus_version(home, cv_out["corpus_id"])
    val = read_split_pairs(cv, "val")
    src, tgt = ds.pairs("val", [len(val) - 1])
    assert src_art.load().decode(src[0]) == val.src[-1] and tgt_art.load().decode(tgt[0]) == val.tgt[-1]
    rows = Catalog(home.catalog_path).rows("SELECT id, meta FROM token_datasets WHERE id = ?", [ds.id])
    assert rows[0]["meta"]["src_tokenizer_id"] == src_art.id

    # the choice of column belongs to tokenizer_sides; a side exists in pair corpora only
    with pytest.raises(ConfigError, match="tokenizer_sides"):
        pair_tokenizer_stage(TokenizerConfig(vocab_size=VOCAB, column="src"), cv.id, home, progress=quiet)
    mono = stages.ingest_stage(IngestConfig(corpus=str(small_text_dir)), home, progress=quiet)["corpus_id"]
    with pytest.raises(DataError, match="not a translation corpus"):
        pair_tokenizer_stage(TokenizerConfig(vocab_size=VOCAB), mono, home, progress=quiet)
    with pytest.raises(DataError, match=r"part-train-\d+\.parquet: no 'src' column"):
        stages.tokenizer_stage(TokenizerConfig(vocab_size=VOCAB, column="src"), mono, home, progress=quiet)


def test_held_out_books_are_not_in_training(home):
    from arlm.data import load_corpus_version

    out = ingest_pairs_stage(PairIngestConfig(corpus=SPEC, val_fraction=0.1, test_fraction=0.1), home, progress=quiet)
    cv = load_corpus_version(home, out["corpus_id"])
    split = {s: read_split_pairs(cv, s) for s in ("train", "val", "test")}
    train_books = set(split["train"].doc)
    for held in ("val", "test"):
        books = set(split[held].doc)
        assert books and not books & train_books, held
    assert not set(split["val"].doc) & set(split["test"].doc)
    assert sum(len(p) for p in split.values()) == N_PAIRS
    recorded = out["stats"]["split"]["documents"]
    assert {b for b, s in recorded.items() if s == "test"} == set(split["test"].doc)


def test_moses_folder_with_languages_from_the_config(home, tmp_path):
    rows = [(f"Sentence number {i} here.", f"Frase número {i} aquí.") for i in range(40)]
    folder = tmp_path / "moses"
    folder.mkdir()
    for b in range(12):  # twelve documents: split by document
        part = rows[b * 3 : b * 3 + 3] or [(f"Extra {b}.", f"Extra {b}.")]
        (folder / f"doc{b:02d}.en").write_text("".join(s + "\n" for s, _ in part), encoding="utf-8")
        (folder / f"doc{b:02d}.es").write_text("".join(t + "\n" for _, t in part), encoding="utf-8")
    out = ingest_pairs_stage(PairIngestConfig(corpus=str(folder), src_lang="es", tgt_lang="en"), home, progress=quiet)
    assert (out["src_lang"], out["tgt_lang"]) == ("es", "en") and out["stats"]["split"]["by"] == "document"
    from arlm.data import load_corpus_version

    cv = load_corpus_version(home, out["corpus_id"])
    assert cv.spec == f"{folder}:es,en"
    train = read_split_pairs(cv, "train")
    assert train.src[0].startswith(("Frase", "Extra")) and train.doc[0].startswith("doc")
    sources = Catalog(home.catalog_path).rows(
        "SELECT uri, n_docs, status FROM source_files WHERE corpus_version_id = ? ORDER BY uri", [cv.id]
    )
    assert len(sources) == 24 and all(r["status"] == "kept" and r["n_docs"] >= 1 for r in sources)
    # the languages named in the SPEC win over the config's
    swapped = ingest_pairs_stage(PairIngestConfig(corpus=f"{folder}:en,es"), home, progress=quiet)
    assert swapped["corpus_id"] != out["corpus_id"] and (swapped["src_lang"], swapped["tgt_lang"]) == ("en", "es")


def test_a_changed_input_is_a_new_version_a_touched_one_is_not(home, tmp_path):
    import os

    tsv = tmp_path / "pairs.tsv"
    shutil.copy(FIXTURE, tsv)
    spec = f"{tsv}:en,es,book"
    first = ingest_pairs_stage(PairIngestConfig(corpus=spec), home, progress=quiet)
    os.utime(tsv, ns=(1, 1))
    assert ingest_pairs_stage(PairIngestConfig(corpus=spec), home, progress=quiet)["reused"]
    with open(tsv, "a", encoding="utf-8") as f:
        f.write("Gen\tGen.50.27\tOne more verse.\tUn versículo más.\n")
    second = ingest_pairs_stage(PairIngestConfig(corpus=spec), home, progress=quiet)
    assert not second["reused"] and second["corpus_id"] != first["corpus_id"]
    assert second["stats"]["n_pairs"] == N_PAIRS + 1
    other = ingest_pairs_stage(PairIngestConfig(corpus=spec, max_ratio=0), home, progress=quiet)
    assert other["corpus_id"] != second["corpus_id"]  # every config field names the version


def test_named_bible_corpus_reads_the_cached_export(home):
    """``bible-en-es`` exports once into the home's cache; a cached export is read, not rebuilt."""
    cached = home.cache / "bible-en-es" / "bible-en-es.tsv"
    cached.parent.mkdir(parents=True)
    shutil.copy(FIXTURE, cached)
    out = ingest_pairs_stage(PairIngestConfig(), home, progress=quiet)
    from arlm.data import load_corpus_version

    cv = load_corpus_version(home, out["corpus_id"])
    assert cv.spec == "bible-en-es" and out["stats"]["n_pairs"] == N_PAIRS
    back = ingest_pairs_stage(PairIngestConfig(src_lang="es", tgt_lang="en"), home, progress=quiet)
    assert back["corpus_id"] != out["corpus_id"] and (back["src_lang"], back["tgt_lang"]) == ("es", "en")
    rev = read_split_pairs(load_corpus_version(home, back["corpus_id"]), "train")
    fwd = read_split_pairs(cv, "train")
    assert rev.src[0] == fwd.tgt[0] and rev.tgt[0] == fwd.src[0]
    with pytest.raises(ConfigError, match="bible-en-es holds English and Spanish"):
        ingest_pairs_stage(PairIngestConfig(tgt_lang="fr"), home, progress=quiet)


# -- the catalog ----------------------------------------------------------------------------------------


def test_catalog_shows_the_pair_and_rebuilds_equal(home, small_text_dir, capsys):
    from arlm import stages
    from arlm.catalog import format_lineage, format_table
    from arlm.cli.main import main
    from arlm.data import IngestConfig

    cv_out, tok, ds_out = _pipeline(home, sides="separate")
    mono = stages.ingest_stage(IngestConfig(corpus=str(small_text_dir)), home, progress=quiet)
    cat = Catalog(home.catalog_path)
    listing = {r["id"]: r for r in cat.ls()["corpus_versions"]}
    assert listing[cv_out["corpus_id"]]["languages"] == "en->es" and listing[mono["corpus_id"]]["languages"] is None
    assert "en->es" in format_table(list(listing.values()))
    row = cat.rows("SELECT config FROM corpus_versions WHERE id = ?", [cv_out["corpus_id"]])[0]
    assert (row["config"]["task"], row["config"]["src_lang"], row["config"]["tgt_lang"]) == ("translation", "en", "es")
    corpus = cat.rows("SELECT kind FROM corpora WHERE spec = ?", [SPEC])
    assert corpus and corpus[0]["kind"] == "pairs"
    # the documents view reads pair parts (extra columns) beside monolingual ones
    counts = {
        r["corpus_version_id"]: r["n"]
        for r in cat.rows("SELECT corpus_version_id, count(*) AS n FROM documents GROUP BY ALL")
    }
    assert counts[cv_out["corpus_id"]] == N_PAIRS and counts[mono["corpus_id"]] > 0
    cv_row = cat.rows("SELECT * FROM corpus_versions WHERE id = ?", [cv_out["corpus_id"]])[0]
    text = format_lineage(
        {"model": {"name": "t", "version": 1, "uri": "models:/t/1", "run_id": "r"}, "corpus_version": cv_row}
    )
    assert "en->es" in text and f"{N_PAIRS:,} pairs" in text

    before = _tables(home)
    home.catalog_path.unlink()
    assert main(["catalog", "rebuild"]) == 0, capsys.readouterr().err
    assert "rebuilt 2 corpus_versions, 2 tokenizers, 1 token_datasets" in capsys.readouterr().out
    assert _tables(home) == before


# -- bad input: a clear error, nothing changed ----------------------------------------------------------


def _moses_uneven(tmp: Path) -> tuple[str, tuple[str, ...]]:
    d = tmp / "uneven"
    d.mkdir()
    (d / "a.en").write_text("One.\nTwo.\nThree.\n", encoding="utf-8")
    (d / "a.es").write_text("Uno.\nDos.\n", encoding="utf-8")
    return str(d), ("a.en has 3 lines", "a.es has 2")


def _tsv_one_column(tmp: Path) -> tuple[str, tuple[str, ...]]:
    f = tmp / "one.tsv"
    f.write_text("Hello.\tHola.\nNo tab on this line\nBye.\tAdiós.\n", encoding="utf-8")
    return str(f), ("one.tsv: line 2 has 1 tab-separated column, expected 2",)


def _tsv_three_columns(tmp: Path) -> tuple[str, tuple[str, ...]]:
    f = tmp / "three.tsv"
    f.write_text("Hello.\tHola.\nA\tB\tC\nBye.\tAdiós.\n", encoding="utf-8")
    return str(f), ("three.tsv: line 2 has 3 tab-separated columns, expected 2",)


def _missing_target_column(tmp: Path) -> tuple[str, tuple[str, ...]]:
    f = tmp / "missing.tsv"
    f.write_text("book\ten\nGen\tHello.\n", encoding="utf-8")
    return f"{f}:en,es,book", ("missing.tsv: no column 'es' in the header row",)


def _empty_target_column(tmp: Path) -> tuple[str, tuple[str, ...]]:
    f = tmp / "empty.tsv"
    f.write_text("en\tes\nHello.\t\nBye.\t \n", encoding="utf-8")
    return f"{f}:en,es", ("empty.tsv: the target column is empty on all 2 lines",)


def _jsonl_missing_target(tmp: Path) -> tuple[str, tuple[str, ...]]:
    f = tmp / "p.jsonl"
    f.write_text('{"en": "Hello.", "es": "Hola."}\n{"en": "Bye."}\n', encoding="utf-8")
    return f"{f}:en,es", ("p.jsonl: line 2 has no target field 'es'",)


def _too_few_documents(tmp: Path) -> tuple[str, tuple[str, ...]]:
    f = tmp / "tiny.tsv"
    f.write_text("Hello.\tHola.\n", encoding="utf-8")
    return str(f), ("tiny.tsv", "would be empty")


@pytest.mark.parametrize(
    "make",
    [
        _moses_uneven,
        _tsv_one_column,
        _tsv_three_columns,
        _missing_target_column,
        _empty_target_column,
        _jsonl_missing_target,
        _too_few_documents,
    ],
)
def test_bad_input_names_the_problem_and_changes_nothing(home, tmp_path, make):
    _pipeline(home)  # a home with a pair corpus, a tokenizer and a dataset already recorded
    before = _snapshot(home)
    spec, needles = make(tmp_path)
    with pytest.raises(DataError) as err:
        ingest_pairs_stage(PairIngestConfig(corpus=spec), home, progress=quiet)
    message = str(err.value)
    assert "\n" not in message
    for needle in needles:
        assert needle in message, message
    assert _snapshot(home) == before
    assert not [p for p in home.lake.iterdir() if ".tmp-" in p.name]


# -- the real export (Debian's SWORD modules) -----------------------------------------------------------


def _sword_installed() -> bool:
    if not shutil.which("diatheke"):
        return False
    listing = subprocess.run(["diatheke", "-b", "system", "-k", "modulelist"], capture_output=True, text=True).stdout
    return "engWEB2015eb" in listing and "spaRV1909eb" in listing


@pytest.mark.slow
@pytest.mark.skipif(not _sword_installed(), reason="diatheke, sword-text-web and sword-text-sparv are not installed")
def test_real_bible_corpus_is_exported_once(home):
    first = ingest_pairs_stage(PairIngestConfig(), home, progress=quiet)
    cached = home.cache / "bible-en-es" / "bible-en-es.tsv"
    assert cached.is_file() and 30_000 <= first["stats"]["n_pairs"] <= 31_102
    assert first["stats"]["split"]["by"] == "document" and len(first["stats"]["split"]["documents"]) == 66
    mtime = cached.stat().st_mtime_ns
    again = ingest_pairs_stage(PairIngestConfig(), home, progress=quiet)
    assert again["reused"] and again["corpus_id"] == first["corpus_id"] and cached.stat().st_mtime_ns == mtime
