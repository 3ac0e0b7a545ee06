"""Parallel corpora: the readers of every SPEC form, their errors, cleaning counts, document splits."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from arlm.errors import ConfigError, DataError
from arlm.translation.pairs import (
    PairCleaning,
    Pairs,
    clean_pairs,
    read_pairs,
    split_pairs,
    write_pairs_tsv,
)

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "bible-en-es-sample.tsv"
ROWS = [("Hello.", "Hola."), ("Good morning, friend.", "Buenos días, amigo."), ("He created it.", "Él lo creó.")]


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_every_format_reads_the_same_pairs(tmp_path):
    tsv = _write(tmp_path / "p.tsv", "".join(f"{s}\t{t}\n" for s, t in ROWS))
    htsv = _write(tmp_path / "h.tsv", "id\ten\tes\n" + "".join(f"{i}\t{s}\t{t}\n" for i, (s, t) in enumerate(ROWS)))
    jsonl = _write(tmp_path / "p.jsonl", "".join(json.dumps({"en": s, "es": t, "n": 1}) + "\n" for s, t in ROWS))
    csv_text = "en,es\n" + "".join(f'"{s}","{t}"\n' for s, t in ROWS)
    csvf = _write(tmp_path / "p.csv", csv_text)
    parquet = tmp_path / "p.parquet"
    pq.write_table(pa.table({"en": [s for s, _ in ROWS], "es": [t for _, t in ROWS]}), parquet)
    moses = tmp_path / "moses"
    moses.mkdir()
    _write(moses / "a.en", "".join(s + "\n" for s, _ in ROWS[:2]))
    _write(moses / "a.es", "".join(t + "\n" for _, t in ROWS[:2]))
    _write(moses / "b.en", ROWS[2][0] + "\n")
    _write(moses / "b.es", ROWS[2][1] + "\n")
    specs = [str(tsv), f"{htsv}:en,es", f"{jsonl}:en,es", f"{csvf}:en,es", f"{parquet}:en,es", f"{moses}:en,es"]
    for spec in specs:
        pairs = read_pairs(spec)
        assert list(zip(pairs.src, pairs.tgt)) == ROWS, spec
    m = read_pairs(f"{moses}:en,es")
    assert (m.src_lang, m.tgt_lang, m.doc, m.origin[2]) == ("en", "es", ["a", "a", "b"], "b:1")
    # the reverse direction of the same folder, and languages given by argument
    rev = read_pairs(f"{moses}:es,en")
    assert rev.src[0] == "Hola."
    with pytest.raises(ConfigError, match=r"which side is the source\? give moses:en,es or moses:es,en"):
        read_pairs(str(moses))


def test_document_column_and_a_bom(tmp_path):
    f = tmp_path / "d.tsv"
    f.write_bytes("\ufeffbook\ten\tes\nGen\tA.\tUna.\nExod\tB.\tDos.\n".encode())
    pairs = read_pairs(f"{f}:en,es,book")
    assert pairs.doc == ["Gen", "Exod"] and pairs.src == ["A.", "B."]


@pytest.mark.parametrize(
    "name,content,spec_cols,needle",
    [
        ("one.tsv", "hello\thola\nworld\n", None, r"one.tsv: line 2 has 1 tab-separated column, expected 2"),
        ("three.tsv", "a\tb\nc\td\te\n", None, r"three.tsv: line 2 has 3 tab-separated columns, expected 2"),
        ("h.tsv", "en\tes\nx\ty\tz\n", "en,es", r"h.tsv: line 2 has 3 tab-separated columns, the header has 2"),
        ("h2.tsv", "en\tfr\nx\ty\n", "en,es", r"h2.tsv: no column 'es' in the header row"),
        ("m.jsonl", '{"en": "a", "es": "b"}\n{"en": "c"}\n', "en,es", r"m.jsonl: line 2 has no target field 'es'"),
        (
            "n.jsonl",
            '{"en": "a", "es": null}\n',
            "en,es",
            r"n.jsonl: line 1 has no target field 'es' \(missing or null",
        ),
        ("t.jsonl", '{"en": "a", "es": 3}\n', "en,es", r"t.jsonl: line 1: the target field 'es' is a int"),
        ("b.jsonl", '{"en": "a", "es": "b"}\nnot json\n', "en,es", r"b.jsonl: line 2 is not valid JSON"),
        ("s.csv", "en,es\na,b\nc\n", "en,es", r"s.csv: line 3 has 1 field: no target column 'es'"),
        ("c.csv", "en,fr\na,b\n", "en,es", r"c.csv: no column 'es' in the CSV header \(columns: en, fr\)"),
        ("e.tsv", "a\t\nb\t \n", None, r"e.tsv: the target column is empty on all 2 lines"),
    ],
)
def test_bad_input_names_file_line_and_problem(tmp_path, name, content, spec_cols, needle):
    path = _write(tmp_path / name, content)
    with pytest.raises(DataError, match=needle):
        read_pairs(f"{path}:{spec_cols}" if spec_cols else str(path))


def test_parquet_null_target_names_the_row(tmp_path):
    path = tmp_path / "p.parquet"
    pq.write_table(pa.table({"en": ["a", "b"], "es": ["x", None]}), path)
    with pytest.raises(DataError, match=r"p.parquet: row 1 has no target column 'es' \(missing or null\)"):
        read_pairs(f"{path}:en,es")


def test_line_aligned_files_with_different_counts_name_both(tmp_path):
    folder = tmp_path / "corpus"
    folder.mkdir()
    _write(folder / "train.en", "a\nb\nc\n")
    _write(folder / "train.es", "x\ny\n")
    with pytest.raises(DataError, match=r"train.en has 3 lines but .*train.es has 2"):
        read_pairs(f"{folder}:en,es")
    _write(folder / "train.es", "x\ny\nz\n")
    _write(folder / "extra.en", "q\n")
    with pytest.raises(DataError, match=r"extra.en: no matching extra.es"):
        read_pairs(f"{folder}:en,es")


def test_invalid_utf8_names_the_line(tmp_path):
    path = tmp_path / "bad.tsv"
    path.write_bytes(b"a\tb\nc\t\xff\xfe\n")
    with pytest.raises(DataError, match=r"bad.tsv: line 2 is not valid UTF-8"):
        read_pairs(str(path))


def test_unknown_format_and_missing_columns(tmp_path):
    with pytest.raises(ConfigError, match="unknown pairs format '.txt'"):
        read_pairs(str(_write(tmp_path / "a.txt", "x")))
    with pytest.raises(ConfigError, match=r"name the source and target columns as a.jsonl:SOURCE,TARGET"):
        read_pairs(str(_write(tmp_path / "a.jsonl", "{}")))
    with pytest.raises(DataError, match="no such file"):
        read_pairs(str(tmp_path / "missing.tsv"))


def test_cleaning_counts_every_decision():
    pairs = Pairs(src_lang="en", tgt_lang="es")
    rows = [
        ("Hello.", "Hola."),
        ("  Hello.\n", "Hola.  "),  # the same pair once whitespace is collapsed: a duplicate
        ("", "Vacío."),
        ("Empty.", "   "),
        ("A rather long English sentence indeed.", "Sí."),  # ratio over 3
        ("x" * 50, "y" * 50),  # longer than max_chars=40
        ("Ok.", "Vale, de acuerdo."),  # short: the ratio is not checked below 20 characters
        ("Cafe\u0301.", "Cafe\u0301."),  # normalized to NFC
    ]
    for i, (s, t) in enumerate(rows):
        pairs.append(s, t, "", f"f.tsv:{i + 1}")
    kept, tally = clean_pairs(pairs, PairCleaning(max_chars=40))
    assert list(zip(kept.src, kept.tgt)) == [("Hello.", "Hola."), ("Ok.", "Vale, de acuerdo."), ("Café.", "Café.")]
    c = tally.counts
    assert c["skipped:duplicate-pair"] == 1 and c["skipped:empty-source"] == 1 and c["skipped:empty-target"] == 1
    assert c["skipped:length-ratio"] == 1 and c["skipped:longer-than-max_chars"] == 1 and c["kept-pairs"] == 3
    assert ("f.tsv:3", "empty-source") in tally.skipped
    kept2, _ = clean_pairs(pairs, PairCleaning(max_chars=0, max_ratio=0, dedup=False))
    assert len(kept2) == 6  # only the empty sides go


def test_split_by_document_holds_whole_books_out():
    pairs = read_pairs(f"{FIXTURE}:en,es,book")
    assert len(pairs) >= 200 and len(pairs.documents) >= 10
    splits, stats = split_pairs(pairs, 0.1, 0.1, seed=0)
    assert stats["by"] == "document"
    books = {name: set(p.doc) for name, p in splits.items()}
    assert books["train"] and books["val"] and books["test"]
    assert (
        not (books["train"] & books["val"])
        and not (books["train"] & books["test"])
        and not (books["val"] & books["test"])
    )
    assert sum(len(p) for p in splits.values()) == len(pairs)
    for name in ("val", "test"):  # close to the asked share of pairs, in whole books
        assert 0 < len(splits[name]) <= 0.15 * len(pairs) + 1
    again, _ = split_pairs(pairs, 0.1, 0.1, seed=0)
    assert {k: v.origin for k, v in again.items()} == {k: v.origin for k, v in splits.items()}
    other, _ = split_pairs(pairs, 0.1, 0.1, seed=1)
    assert {k: set(v.doc) for k, v in other.items()} != books


def test_split_by_pair_without_documents():
    pairs = Pairs()
    for i in range(40):
        pairs.append(f"source {i}", f"target {i}")
    splits, stats = split_pairs(pairs, 0.05, 0.05, seed=3)
    assert stats["by"] == "pair"
    assert all(len(splits[s]) >= 1 for s in ("train", "val", "test"))  # the guard fills empty held-out splits
    assert sum(len(p) for p in splits.values()) == 40
    with pytest.raises(ConfigError, match="needs a document for every pair"):
        split_pairs(pairs, by="document")


def test_tsv_round_trip(tmp_path):
    pairs = read_pairs(f"{FIXTURE}:en,es,book")
    write_pairs_tsv(pairs, tmp_path / "out.tsv", doc_column="book")
    back = read_pairs(f"{tmp_path / 'out.tsv'}:en,es,book")
    assert (back.src, back.tgt, back.doc) == (pairs.src, pairs.tgt, pairs.doc)
    write_pairs_tsv(pairs, tmp_path / "plain.tsv", header=False)
    plain = read_pairs(str(tmp_path / "plain.tsv"))
    assert plain.src == pairs.src and plain.tgt == pairs.tgt
    bad = Pairs()
    bad.append("a\tb", "c", "", "x:1")
    with pytest.raises(DataError, match="x:1: a tab or newline inside a sentence"):
        write_pairs_tsv(bad, tmp_path / "bad.tsv")
