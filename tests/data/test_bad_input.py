"""Every bad input of issue 3: a clear error naming the file and the problem, exit code 2 from the
CLI, and no change to the lake or the catalog."""

from __future__ import annotations

import functools
import hashlib
import http.server
import os
import threading
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from arlm.catalog import Catalog
from arlm.data import IngestConfig, ingest
from arlm.errors import ArlmError, ConfigError, DataError


@pytest.fixture(autouse=True)
def _cli(run_cli):
    global _RUN_CLI
    _RUN_CLI = run_cli


def lake_state(home) -> list[str]:
    return sorted(p.name for p in home.lake.iterdir()) if home.lake.exists() else []


def assert_rejected(home, spec: str, match: str, error=DataError, **cfg) -> None:
    """Library call raises ``error`` matching ``match``; the CLI exits 2 with it; nothing changed."""
    Catalog(home.catalog_path)
    before = lake_state(home)
    with pytest.raises(error, match=match):
        ingest(IngestConfig(corpus=spec, **cfg), home)
    args = ["ingest", "--corpus", spec, "--quiet"]
    if cfg.get("encoding_errors"):
        args += ["--encoding-errors", cfg["encoding_errors"]]
    code, out, err = _RUN_CLI(home, args)
    assert code == 2 and "arlm: error:" in err and "Traceback" not in err, err
    assert lake_state(home) == before
    assert Catalog(home.catalog_path).rows("SELECT count(*) AS n FROM corpus_versions")[0]["n"] == 0


def test_missing_path(home, tmp_path):
    assert_rejected(home, str(tmp_path / "nope"), r"nope: no such file or folder")
    assert_rejected(home, f"{tmp_path / 'nope.jsonl'}:text", r"nope.jsonl: no such file")


def test_empty_folder(home, tmp_path):
    (tmp_path / "empty").mkdir()
    assert_rejected(home, str(tmp_path / "empty"), r"empty: empty folder \(no files\)")


def test_folder_of_binary_files(home, tmp_path):
    d = tmp_path / "bins"
    d.mkdir()
    for i in range(3):
        (d / f"blob{i}.bin").write_bytes(os.urandom(2000) + b"\x00" * 10)
    assert_rejected(home, str(d), r"bins: no documents left after cleaning \(skipped: 3 binary\)")


def test_non_utf8_under_strict(home, tmp_path):
    d = tmp_path / "texts"
    d.mkdir()
    (d / "good.txt").write_text("fine text\n")
    (d / "latin.txt").write_bytes("caf\xe9 au lait\n".encode("latin-1"))
    assert_rejected(
        home, str(d), r"latin.txt: not valid UTF-8 at byte 3 \(encoding_errors=strict", encoding_errors="strict"
    )


def test_jsonl_line_that_is_not_json(home, tmp_path):
    f = tmp_path / "data.jsonl"
    f.write_text('{"text": "ok"}\n{"text": "ok too"}\n{"text": broken\n')
    assert_rejected(home, f"{f}:text", r"data.jsonl: line 3 is not valid JSON")


def test_missing_text_column(home, tmp_path):
    j = tmp_path / "data.jsonl"
    j.write_text('{"body": "x"}\n')
    assert_rejected(
        home,
        f"{j}:text",
        r"data.jsonl: no record has a 'text' field \(null or missing on all 1; "
        r"line 1 has fields: body\)",
    )
    c = tmp_path / "data.csv"
    c.write_text("title,body\na,b\n")
    assert_rejected(home, f"{c}:text", r"data.csv: no column 'text' in the CSV header \(columns: title, body\)")
    p = tmp_path / "data.parquet"
    pq.write_table(pa.table({"body": ["x"]}), p)
    assert_rejected(home, f"{p}:text", r"data.parquet: no column 'text' \(columns: body\)")


def test_truncated_parquet(home, tmp_path):
    p = tmp_path / "cut.parquet"
    pq.write_table(pa.table({"text": [f"row {i}" for i in range(1000)]}), p)
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 2])
    assert_rejected(home, f"{p}:text", r"cut.parquet: cannot read Parquet")


def test_200_mb_single_line_file(home, tmp_path):
    """Skipped after reading only a few MB (memory stays bounded); alone it leaves no documents."""
    f = tmp_path / "oneline.txt"
    chunk = b"word " * (1 << 20)
    with open(f, "wb") as fh:
        for _ in range(40):  # 40 x 5 MiB = 200 MiB, no newline
            fh.write(chunk)
    assert f.stat().st_size == 200 * (1 << 20)
    assert_rejected(
        home,
        str(f),
        r"oneline.txt: no documents left after cleaning "
        r"\(skipped: 1 line-longer-than-max_line_chars\)",
    )


def test_symlink_loop(home, tmp_path):
    d = tmp_path / "loopy"
    (d / "sub").mkdir(parents=True)
    (d / "sub" / "a.txt").write_text("text\n")
    (d / "sub" / "back").symlink_to(d)
    assert_rejected(home, str(d), r"loopy/sub/back: symlink loop")
    self_loop = tmp_path / "self"
    self_loop.symlink_to(self_loop)
    assert_rejected(home, str(self_loop), r"self: symlink loop")


def test_url_with_wrong_sha256(home, tmp_path):
    root = tmp_path / "www"
    root.mkdir()
    (root / "t.txt").write_text("served text\n")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *a, **k: None  # type: ignore[attr-defined]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}"
        wrong = hashlib.sha256(b"something else").hexdigest()
        assert_rejected(home, f"{base}/t.txt#sha256={wrong}", r"t.txt: sha256 mismatch \(expected " + wrong)
        assert_rejected(home, f"{base}/missing.txt", r"missing.txt: HTTP 404")
        assert not any(p.suffix == ".txt" for p in home.cache.rglob("*"))  # nothing unverified kept
    finally:
        server.shutdown()
        server.server_close()


def test_invalid_config_values(home, small_text_dir):
    with pytest.raises(ConfigError, match="val_fraction \\+ test_fraction must be < 1"):
        IngestConfig(corpus=str(small_text_dir), val_fraction=0.6, test_fraction=0.5)
    with pytest.raises(ConfigError, match="min_chars"):
        IngestConfig(min_chars=10, max_chars=5)
    code, _, err = _RUN_CLI(home, ["ingest", "--corpus", str(small_text_dir), "--val-fraction", "1.5"])
    assert code == 2 and "--val-fraction" in err
    with pytest.raises(ArlmError, match="sha256 must be 64 hex digits"):
        ingest(IngestConfig(corpus="http://127.0.0.1:9/x.txt#sha256=abc"), home)
    assert lake_state(home) == []


def test_text_column_on_a_plain_text_file(home, tmp_path):
    f = tmp_path / "notes.txt"
    f.write_text("x\n")
    assert_rejected(home, f"{f}:text", r"notes.txt: a text column \('text'\) needs a .jsonl", error=ConfigError)
    assert Path(f).exists()
