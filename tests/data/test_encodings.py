"""Text in, as written (issue 12): UTF-16/32 with a BOM, --encoding NAME|auto, and every file
that needed U+FFFD named in the report and on stderr."""

from __future__ import annotations

import codecs
import json

import pytest

from arlm.catalog import Catalog
from arlm.data import IngestConfig, ingest, iter_texts
from arlm.data.lake import SPLITS
from arlm.errors import ConfigError, DataError

TEXT = "Grüße aus {city}: déjà vu, naïve café, crème.\nZweite Zeile: äöü ß, señor, ça va.\n"
NO_SPLITS = ["--val-fraction", "0", "--test-fraction", "0", "--quiet"]


def texts(cv) -> list[str]:
    return sorted(t for s in SPLITS for b in iter_texts(cv, s) for t in b)


def n_corpus_rows(home) -> int:
    return Catalog(home.catalog_path).rows("SELECT count(*) AS n FROM corpus_versions")[0]["n"]


def test_utf16_and_utf32_files_with_a_bom_are_decoded(home, tmp_path):
    d = tmp_path / "boms"
    d.mkdir()
    cases = {
        "u16le": (codecs.BOM_UTF16_LE, "utf-16-le"),
        "u16be": (codecs.BOM_UTF16_BE, "utf-16-be"),
        "u32le": (codecs.BOM_UTF32_LE, "utf-32-le"),
        "u32be": (codecs.BOM_UTF32_BE, "utf-32-be"),
        "u8bom": (codecs.BOM_UTF8, "utf-8"),
    }
    expected = []
    for name, (bom, codec) in cases.items():
        text = TEXT.format(city=name)
        (d / f"{name}.txt").write_bytes(bom + text.encode(codec))
        expected.append(text)
    cv = ingest(IngestConfig(corpus=str(d), val_fraction=0, test_fraction=0), home)
    assert texts(cv) == sorted(expected)  # none skipped as "binary", no U+FFFD, no BOM left
    rep = cv.stats["cleaning"]
    assert rep["skipped"] == {} and rep["files_with_replacements"] == 0
    assert rep["encodings"] == {"utf-16-le": 1, "utf-16-be": 1, "utf-32-le": 1, "utf-32-be": 1, "utf-8": 1}
    # a real binary file still is one
    (d / "blob.bin").write_bytes(b"\x00\x01\x02" * 1000)
    cv = ingest(IngestConfig(corpus=str(d), val_fraction=0, test_fraction=0), home)
    assert cv.stats["cleaning"]["skipped"] == {"binary": 1}


def test_latin1_replacements_are_named_in_the_report_and_on_stderr(home, tmp_path, run_cli):
    d = tmp_path / "mixed"
    d.mkdir()
    (d / "good.txt").write_text(TEXT.format(city="Bonn"), encoding="utf-8")
    for i in range(25):
        (d / f"latin{i:02d}.txt").write_bytes(TEXT.format(city=f"Paris {i}").encode("latin-1"))
    code, out, err = run_cli(home, ["ingest", "--corpus", str(d), "--json", *NO_SPLITS])
    assert code == 0, err
    rep = json.loads(out)["stats"]["cleaning"]
    assert rep["files_with_replacements"] == 25 and rep["utf8_replaced"] == 25
    assert rep["replaced_files"] == [f"latin{i:02d}.txt" for i in range(25)]
    warning = [line for line in err.splitlines() if line.startswith("arlm: warning:")]
    assert len(warning) == 1, err
    assert "25 files had bytes not valid in their encoding (utf-8)" in warning[0]
    assert "latin00.txt, latin01.txt" in warning[0] and "and 5 more" in warning[0]  # the first 20
    # the text report lists them too
    code, out, err = run_cli(home, ["ingest", "--corpus", str(d), *NO_SPLITS])
    assert "files with U+FFFD replacements (20 of 25):" in out and "    latin19.txt" in out
    # --encoding latin-1 reads them as written: nothing replaced, nothing on stderr
    code, out, err = run_cli(
        home, ["ingest", "--corpus", str(d / "latin03.txt"), "--encoding", "latin-1", "--json", *NO_SPLITS]
    )
    assert code == 0 and "warning" not in err
    cv_id = json.loads(out)["id"]
    from arlm.data import load_corpus_version

    assert texts(load_corpus_version(home, cv_id)) == [TEXT.format(city="Paris 3")]
    # strict fails naming the file; skip drops the files, counted
    before = n_corpus_rows(home)
    code, out, err = run_cli(home, ["ingest", "--corpus", str(d), "--encoding-errors", "strict", *NO_SPLITS])
    assert code == 2 and err.count("\n") == 1
    assert "latin00.txt: not valid UTF-8 at byte 2 (encoding_errors=strict" in err
    assert n_corpus_rows(home) == before
    code, out, err = run_cli(home, ["ingest", "--corpus", str(d), "--encoding-errors", "skip", "--json", *NO_SPLITS])
    assert json.loads(out)["stats"]["cleaning"]["skipped"] == {"invalid-utf8": 25}


def test_auto_detects_each_file(home, tmp_path):
    d = tmp_path / "auto"
    d.mkdir()
    files = {
        "cp1252.txt": ("cp1252", "Le cœur a ses raisons: déjà vu, à bientôt, ça va très bien.\n"),
        "latin1.txt": ("latin-1", TEXT.format(city="Paris")),
        "cp1251.txt": (
            "cp1251",
            ("Съешь же ещё этих мягких французских булок, да выпей чаю. Широкая электрификация южных губерний.\n"),
        ),
        "utf8.txt": ("utf-8", TEXT.format(city="Köln")),
        "utf16.txt": ("utf-16", TEXT.format(city="Wien")),
    }
    for name, (codec, text) in files.items():
        (d / name).write_bytes(text.encode(codec))
    cv = ingest(IngestConfig(corpus=str(d), encoding="auto", val_fraction=0, test_fraction=0), home)
    assert texts(cv) == sorted(t for _, t in files.values())
    rep = cv.stats["cleaning"]
    assert rep["files_with_replacements"] == 0 and "\ufffd" not in "".join(texts(cv))
    assert rep["encodings"]["cp1251"] == 1 and rep["encodings"]["utf-16-le"] == 1
    # the same folder without auto: the single-byte files are named as damaged
    cv = ingest(IngestConfig(corpus=str(d), val_fraction=0, test_fraction=0), home)
    assert sorted(cv.stats["cleaning"]["replaced_files"]) == ["cp1251.txt", "cp1252.txt", "latin1.txt"]


def test_records_in_utf16_and_latin1(home, tmp_path):
    rows = [{"id": i, "text": f"Eintrag {i}: Grüße, señor, garçon.\n"} for i in range(12)]
    j = tmp_path / "u16.jsonl"
    body = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    j.write_bytes(codecs.BOM_UTF16_LE + body.encode("utf-16-le"))
    cv = ingest(IngestConfig(corpus=str(j)), home)  # no :COLUMN: the "text" field
    assert texts(cv) == sorted(r["text"] for r in rows)
    c = tmp_path / "latin.csv"
    c.write_bytes(("id,text\n" + "".join(f'{r["id"]},"{r["text"]}"\n' for r in rows)).encode("latin-1"))
    cv = ingest(IngestConfig(corpus=f"{c}:text", encoding="latin-1"), home)
    assert texts(cv) == sorted(r["text"] for r in rows)
    cv = ingest(IngestConfig(corpus=f"{c}:text"), home)
    assert cv.stats["cleaning"]["replaced_files"] == ["latin.csv"]
    with pytest.raises(DataError, match=r"latin.csv: not valid UTF-8 at byte \d+ \(encoding_errors=strict"):
        ingest(IngestConfig(corpus=f"{c}:text", encoding_errors="strict"), home)


def test_unknown_encoding_is_one_line(home, tmp_path, run_cli):
    f = tmp_path / "a.txt"
    f.write_text("some text\n")
    with pytest.raises(ConfigError, match="unknown text encoding 'klingon'"):
        IngestConfig(corpus=str(f), encoding="klingon")
    code, _, err = run_cli(home, ["ingest", "--corpus", str(f), "--encoding", "base64", "--quiet"])
    assert code == 2 and err.count("\n") == 1 and "unknown text encoding 'base64'" in err
    assert not any(home.lake.iterdir())
