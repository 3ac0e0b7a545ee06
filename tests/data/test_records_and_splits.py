"""Records without :COLUMN, null vs missing fields, splits that would be empty, and counts that
add up (issue 12)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from arlm.catalog import Catalog
from arlm.data import IngestConfig, ingest, iter_texts, report_text
from arlm.data.lake import SPLITS
from arlm.errors import DataError

ARLM = str(Path(sys.executable).parent / "arlm")
TEXTS = [f"record {i}: a line of text about item {i}.\n" for i in range(12)]


def texts(cv) -> list[str]:
    return sorted(t for s in SPLITS for b in iter_texts(cv, s) for t in b)


def nothing_written(home) -> bool:
    lake = sorted(p.name for p in home.lake.iterdir()) if home.lake.exists() else []
    rows = Catalog(home.catalog_path).rows("SELECT count(*) AS n FROM corpus_versions")[0]["n"]
    return lake == [] and rows == 0


def test_records_without_a_column_use_their_text_field(home, tmp_path):
    j = tmp_path / "data.jsonl"
    j.write_text("".join(json.dumps({"id": i, "text": t}) + "\n" for i, t in enumerate(TEXTS)))
    c = tmp_path / "data.csv"
    c.write_text("id,text\n" + "".join(f'{i},"{t}"\n' for i, t in enumerate(TEXTS)))
    p = tmp_path / "data.parquet"
    pq.write_table(pa.table({"id": list(range(12)), "text": TEXTS}), p)
    for f in (j, c, p):
        cv = ingest(IngestConfig(corpus=str(f)), home)
        assert texts(cv) == sorted(TEXTS), f  # the field's text, not raw JSON lines / CSV rows
    # a folder of them too, beside plain text files
    d = tmp_path / "folder"
    d.mkdir()
    (d / "a.jsonl").write_text(j.read_text())
    (d / "notes.txt").write_text("a plain text file\n")
    cv = ingest(IngestConfig(corpus=str(d)), home)
    assert texts(cv) == sorted(TEXTS + ["a plain text file\n"])


@pytest.mark.parametrize(
    "name, body, match",
    [
        (
            "raw.jsonl",
            '{"body": "x"}\n{"body": "y"}\n',
            (
                r"raw.jsonl: no record has a 'text' field \(null or missing on all 2; line 1 has fields: body\); "
                r"name the text field as raw.jsonl:FIELD"
            ),
        ),
        (
            "raw.csv",
            "title,body\na,b\n",
            r"raw.csv: no column 'text' in the CSV header \(columns: title, body\); name the text column as raw.csv:COLUMN",
        ),
    ],
)
def test_records_without_a_text_field_fail_naming_the_file(home, tmp_path, name, body, match):
    f = tmp_path / name
    f.write_text(body)
    with pytest.raises(DataError, match=match):
        ingest(IngestConfig(corpus=str(f)), home)
    proc = subprocess.run(
        [ARLM, "--home", str(home.root), "ingest", "--corpus", str(f), "--quiet"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 2 and proc.stdout == ""
    assert len(proc.stderr.splitlines()) == 1 and proc.stderr.startswith("arlm: error: "), proc.stderr
    assert nothing_written(home)


def test_null_and_missing_fields_are_treated_alike(home, tmp_path):
    rows = [{"text": t} for t in TEXTS]
    null = tmp_path / "null.jsonl"
    null.write_text("".join(json.dumps(r) + "\n" for r in rows + [{"text": None}, {"text": None}]))
    missing = tmp_path / "missing.jsonl"
    missing.write_text("".join(json.dumps(r) + "\n" for r in rows + [{"other": 1}, {"other": 2}]))
    reps = [ingest(IngestConfig(corpus=str(f)), home).stats["cleaning"] for f in (null, missing)]
    assert reps[0]["skipped"] == reps[1]["skipped"] == {"missing-or-null-text": 2}
    assert [e["uri"] for e in reps[0]["skipped_examples"]] == ["null.jsonl:13", "null.jsonl:14"]
    assert [e["uri"] for e in reps[1]["skipped_examples"]] == ["missing.jsonl:13", "missing.jsonl:14"]
    # and when no record has it, both are the same error
    (tmp_path / "allnull.jsonl").write_text('{"text": null}\n{"text": null}\n')
    (tmp_path / "allmissing.jsonl").write_text('{"t": 1}\n{"t": 2}\n')
    for name in ("allnull.jsonl", "allmissing.jsonl"):
        with pytest.raises(DataError, match=rf"{name}: no record has a 'text' field \(null or missing on all 2"):
            ingest(IngestConfig(corpus=str(tmp_path / name)), home)


def test_a_corpus_too_small_for_its_splits_is_refused_before_training(home, tmp_path):
    d = tmp_path / "tiny"
    d.mkdir()
    (d / "a.txt").write_text("one small document here\n")
    (d / "b.txt").write_text("another small document\n")
    (d / "dup.txt").write_text("one small document here\n")  # a duplicate: 2 documents in all
    with pytest.raises(
        DataError,
        match=r"only 2 documents after cleaning \(train 1, val 1, test 0\): the "
        r"test split would be empty; give more text or --test-fraction 0",
    ):
        ingest(IngestConfig(corpus=str(d)), home)
    proc = subprocess.run(
        [ARLM, "--home", str(home.root), "ingest", "--corpus", str(d), "--quiet"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 2 and len(proc.stderr.splitlines()) == 1, proc.stderr
    assert "the test split would be empty" in proc.stderr
    assert nothing_written(home)
    # what the message suggests works
    cv = ingest(IngestConfig(corpus=str(d), test_fraction=0), home)
    assert cv.n_docs("train") == 1 and cv.n_docs("val") == 1
    # a train split left empty is refused too (a seed that hashes the one document into val)
    seed = next(k for k in range(100) if _split_of(d / "a.txt", k, 0.9) == "val")
    with pytest.raises(
        DataError,
        match=r"only 1 document after cleaning \(train 0, val 1, test 0\): the "
        r"train split would be empty; give more text or smaller "
        r"--val-fraction/--test-fraction",
    ):
        ingest(IngestConfig(corpus=str(d / "a.txt"), val_fraction=0.9, test_fraction=0, seed=seed), home)


def _split_of(path: Path, seed: int, val_fraction: float) -> str:
    import hashlib

    from arlm.data.splits import assign_split, hash_unit

    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return assign_split(hash_unit(digest, seed), val_fraction, 0.0)


def test_report_counts_add_up(home, tmp_path):
    d = tmp_path / "c"
    d.mkdir()
    for i in range(6):
        (d / f"doc{i}.txt").write_text(f"document {i} with a few words in it\n")
    (d / "copy.txt").write_text("document 0 with a few words in it\n")
    (d / "long.txt").write_text("".join(f"line {i} of a long document that gets cut\n" for i in range(300)))
    cv = ingest(IngestConfig(corpus=str(d), segment_chars=2048), home)
    rep = cv.stats["cleaning"]
    in_splits = sum(cv.n_docs(s) for s in SPLITS)
    assert rep["documents_kept"] == in_splits == cv.stats["n_docs"]
    assert rep["documents_read"] == 8 and rep["documents_segmented"] == 1 and rep["duplicates_dropped"] == 1
    assert rep["documents_emitted"] - rep["duplicates_dropped"] == in_splits
    line = next(ln for ln in report_text(cv).splitlines() if "documents kept" in ln)
    assert (
        f"{in_splits} in the splits (8 read, 1 cut into segments ({rep['documents_emitted']} pieces), "
        "1 duplicate dropped)" in line
    )
