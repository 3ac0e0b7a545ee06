"""Every source kind on real files: JSONL, CSV, Parquet with a text column, HTTP, stdlib-code, HF."""

from __future__ import annotations

import csv
import functools
import hashlib
import http.server
import json
import threading
from pathlib import Path

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
    assert cv.stats["cleaning"]["skipped"] == {"null-text": 1}
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
    (root / "d.jsonl").write_text(json.dumps({"t": "changed"}) + "\n")
    c = ingest(IngestConfig(corpus=f"{base}/d.jsonl#column=t"), home)
    assert c.id != a.id and all_texts(c) == ["changed"]


def test_hf_dataset_saved_to_disk(home, tmp_path):
    datasets = pytest.importorskip(
        "datasets", reason="the 'datasets' package (extra 'hf') is not installed in this environment")
    d = datasets.DatasetDict({
        "train": datasets.Dataset.from_dict({"text": TEXTS[:30], "n": list(range(30))}),
        "test": datasets.Dataset.from_dict({"text": TEXTS[30:], "n": list(range(10))}),
    })
    d.save_to_disk(str(tmp_path / "saved"))
    cv = ingest(IngestConfig(corpus=f"hf:{tmp_path / 'saved'}:text"), home)
    assert sorted(all_texts(cv)) == sorted(TEXTS)
    assert ingest(IngestConfig(corpus=f"hf:{tmp_path / 'saved'}:text"), home).reused
