"""Every source kind on real files: JSONL, CSV, Parquet with a text column, HTTP, stdlib-code, HF."""

from __future__ import annotations

import csv
import functools
import hashlib
import http.server
import json
import threading

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from arlm.data import IngestConfig, ingest, iter_texts
from arlm.data.lake import SPLITS

TEXTS = [f"record {i}: a line of text about item {i}.\n" for i in range(40)]


def all_texts(cv) -> list[str]:
    return [t for s in SPLITS for b in iter_texts(cv, s) for t in b]


def test_jsonl_source(home, tmp_path):
    f = tmp_path / "data.jsonl"
    rows = [{"id": i, "body": t} for i, t in enumerate(TEXTS)] + [{"id": 99, "body": None}]
    f.write_text("\n".join(json.dumps(r) for r in rows) + "\n\n")
    cv = ingest(IngestConfig(corpus=f"{f}:body"), home)
    assert sorted(all_texts(cv)) == sorted(TEXTS)
    assert cv.stats["cleaning"]["skipped"] == {"missing-or-null-text": 1}
    assert cv.spec == f"{f}:body"
    uris = {u for p in cv.files["train"] for u in pq.read_table(p, columns=["uri"]).column(0).to_pylist()}
    assert "data.jsonl:1" in uris or "data.jsonl:2" in uris


def test_csv_source_with_multiline_fields(home, tmp_path):
    f = tmp_path / "data.csv"
    with open(f, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["title", "text"])
        for i, t in enumerate(TEXTS):
            w.writerow([f"t{i}", t + "second line, with a comma\n"])
    cv = ingest(IngestConfig(corpus=f"{f}:text"), home)
    assert sorted(all_texts(cv)) == sorted(t + "second line, with a comma\n" for t in TEXTS)


def test_parquet_source_reads_row_groups(home, tmp_path):
    f = tmp_path / "data.parquet"
    pq.write_table(pa.table({"n": list(range(40)), "content": TEXTS}), f, row_group_size=7)
    cv = ingest(IngestConfig(corpus=f"{f}:content", workers=1), home)
    assert sorted(all_texts(cv)) == sorted(TEXTS)
    assert cv.stats["cleaning"]["files_read"] == 1  # 6 row groups, one file


def test_folder_of_jsonl_files_with_column(home, tmp_path):
    d = tmp_path / "shards"
    d.mkdir()
    for k in range(3):
        (d / f"shard{k}.jsonl").write_text("".join(json.dumps({"text": t}) + "\n" for t in TEXTS[k::3]))
    (d / "README.txt").write_text("not a shard")
    cv = ingest(IngestConfig(corpus=f"{d}:text"), home)
    assert sorted(all_texts(cv)) == sorted(TEXTS)


def test_stdlib_code_excludes_tests(home):
    cv = ingest(IngestConfig(corpus="stdlib-code", val_fraction=0.1, test_fraction=0.1), home)
    assert cv.python_version
    uris = [u for s in SPLITS for p in cv.files[s] for u in pq.read_table(p, columns=["uri"]).column(0).to_pylist()]
    assert any(u.startswith("json/decoder.py") for u in uris)
    assert not any(u.startswith(("test/", "unittest/test/", "lib2to3/tests/")) or "/tests/" in u for u in uris)
    assert cv.stats["n_bytes"] > 1_000_000


@pytest.fixture()
def http_root(tmp_path):
    """A real HTTP server on 127.0.0.1 serving a folder."""
    root = tmp_path / "www"
    root.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *a, **k: None  # type: ignore[attr-defined]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_http_source_verifies_and_caches(home, http_root):
    root, base = http_root
    body = "".join(TEXTS).encode()
    (root / "book.txt").write_bytes(body)
    sha = hashlib.sha256(body).hexdigest()
    cv = ingest(IngestConfig(corpus=f"{base}/book.txt#sha256={sha}", segment_chars=200), home)
    assert "".join(sorted(all_texts(cv))) and cv.stats["n_bytes"] == len(body)
    # pinned: the cached copy is used, even with the server gone
    (root / "book.txt").unlink()
    again = ingest(IngestConfig(corpus=f"{base}/book.txt#sha256={sha}", segment_chars=200), home)
    assert again.reused and again.id == cv.id


def test_http_jsonl_with_column_and_unpinned_change(home, http_root):
    root, base = http_root
    (root / "d.jsonl").write_text("".join(json.dumps({"t": x}) + "\n" for x in TEXTS))
    a = ingest(IngestConfig(corpus=f"{base}/d.jsonl#column=t"), home)
    assert sorted(all_texts(a)) == sorted(TEXTS)
    b = ingest(IngestConfig(corpus=f"{base}/d.jsonl#column=t"), home)
    assert b.reused
    changed = [f"changed {i}" for i in range(5)]
    (root / "d.jsonl").write_text("".join(json.dumps({"t": x}) + "\n" for x in changed))
    c = ingest(IngestConfig(corpus=f"{base}/d.jsonl#column=t"), home)
    assert c.id != a.id and sorted(all_texts(c)) == changed


def test_hf_dataset_saved_to_disk(home, tmp_path):
    import datasets  # in the test extra: the hf: source's loading code is real and tested here

    d = datasets.DatasetDict(
        {
            "train": datasets.Dataset.from_dict({"text": TEXTS[:30], "n": list(range(30))}),
            "test": datasets.Dataset.from_dict({"text": TEXTS[30:], "n": list(range(10))}),
        }
    )
    d.save_to_disk(str(tmp_path / "saved"))
    cv = ingest(IngestConfig(corpus=f"hf:{tmp_path / 'saved'}:text"), home)
    assert sorted(all_texts(cv)) == sorted(TEXTS)
    assert ingest(IngestConfig(corpus=f"hf:{tmp_path / 'saved'}:text"), home).reused


def test_large_jsonl_and_csv_are_cut_into_record_ranges(home, tmp_path, monkeypatch):
    """Byte ranges start at record boundaries (CSV: not inside a quoted newline); line numbers hold."""
    import arlm.data.sources as sources
    from arlm.data.ranges import record_ranges

    monkeypatch.setattr(sources, "UNIT_BYTES", 300)
    j = tmp_path / "big.jsonl"
    j.write_text("".join(json.dumps({"text": t}) + "\n" for t in TEXTS))
    plan = sources.plan_source(IngestConfig(corpus=f"{j}:text"), tmp_path, ())
    assert len(plan.units) > 5
    cv = ingest(IngestConfig(corpus=f"{j}:text", workers=1), home)
    assert sorted(all_texts(cv)) == sorted(TEXTS)
    uris = {
        u: t
        for s in SPLITS
        for p in cv.files[s]
        for u, t in zip(*[pq.read_table(p).column(c).to_pylist() for c in ("uri", "text")])
    }
    assert uris["big.jsonl:40"] == TEXTS[39] and uris["big.jsonl:1"] == TEXTS[0]

    c = tmp_path / "big.csv"
    with open(c, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "text"])
        for i, t in enumerate(TEXTS):
            w.writerow([i, f'he said "{i}"\n{t}'])  # quoted field with a newline and quotes
    ranges = record_ranges(c, 300, quoted=True)
    assert len(ranges) > 5
    raw = c.read_bytes()
    for start, _, line in ranges[1:]:
        assert raw[start:].split(b",", 1)[0].isdigit()  # each range starts at a record
        assert raw[:start].count(b"\n") + 1 == line
    cv = ingest(IngestConfig(corpus=f"{c}:text", workers=1), home)
    assert sorted(all_texts(cv)) == sorted(f'he said "{i}"\n{t}' for i, t in enumerate(TEXTS))
    uris = {
        u: t
        for s in SPLITS
        for p in cv.files[s]
        for u, t in zip(*[pq.read_table(p).column(c).to_pylist() for c in ("uri", "text")])
    }
    assert uris["big.csv:2"].startswith('he said "0"') and uris["big.csv:5"].startswith('he said "1"')
    assert cv.stats["cleaning"]["files_read"] == 1


def test_named_corpora(home, small_text_dir, monkeypatch, tmp_path):
    from arlm.data.sources import NAMED_CORPORA_DIR, resolve_named
    from arlm.errors import ConfigError

    (home.root / "corpora").mkdir(parents=True)
    (home.root / "corpora" / "my-notes.json").write_text(json.dumps({"spec": str(small_text_dir)}))
    cv = ingest(IngestConfig(corpus="my-notes"), home)
    assert cv.spec == str(small_text_dir)
    assert ingest(IngestConfig(corpus=str(small_text_dir)), home).reused  # same version as the path
    # the shipped names resolve to specs, never to another name
    shipped = sorted(NAMED_CORPORA_DIR.glob("*.json"))
    assert shipped
    for f in shipped:
        spec = resolve_named(f.stem, (NAMED_CORPORA_DIR,))
        assert spec != f.stem and resolve_named(spec, ()) == spec
    (home.root / "corpora" / "broken.json").write_text("{}")
    with pytest.raises(ConfigError, match="broken.json: a named corpus needs"):
        ingest(IngestConfig(corpus="broken"), home)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "my-notes").write_text("a local file wins over the name\n")
    local = ingest(IngestConfig(corpus="my-notes", val_fraction=0, test_fraction=0), home)
    assert all_texts(local) == ["a local file wins over the name\n"]
