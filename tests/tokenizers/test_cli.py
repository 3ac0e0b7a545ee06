"""``arlm tokenizer ...`` / ``arlm tokenize`` on a real ingested corpus (arlm.data + catalog)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from arlm.errors import ArlmError


def run_cli(capsys, *argv: str) -> tuple[int, str]:
    from arlm.cli import tokenizer_cmds

    parser = argparse.ArgumentParser(prog="arlm")
    parser.add_argument("--home", default=None)
    sub = parser.add_subparsers(dest="command", required=True)
    tokenizer_cmds.add_parsers(sub)
    args = parser.parse_args(list(argv))
    rc = args.func(args)
    return rc, capsys.readouterr().out


@pytest.fixture()
def corpus_id(home, small_text_dir: Path) -> str:
    from arlm import stages
    from arlm.data import IngestConfig

    return stages.ingest_stage(IngestConfig(corpus=str(small_text_dir)), home, progress=lambda m: None)["corpus_id"]


def test_build_tokenize_encode_decode(home, corpus_id: str, capsys) -> None:
    rc, out = run_cli(
        capsys,
        "--home",
        str(home.root),
        "tokenizer",
        "build",
        "--corpus-version",
        corpus_id,
        "--vocab-size",
        "300",
        "--json",
    )
    built = json.loads(out)
    assert rc == 0 and built["vocab_size"] <= 300 and built["meta"]["corpus_id"] == corpus_id
    tid = built["tokenizer_id"]
    rc, out = run_cli(
        capsys, "--home", str(home.root), "tokenize", "--corpus-version", corpus_id, "--tokenizer", tid[:6], "--json"
    )
    ds = json.loads(out)
    assert rc == 0 and ds["manifest"]["tokenizer_id"] == tid and ds["manifest"]["splits"]["train"]["n_tokens"] > 0

    from arlm.catalog import Catalog

    listing = json.dumps(Catalog(home.catalog_path).ls(), default=str)
    assert tid in listing and ds["dataset_id"] in listing  # recorded in the catalog

    text = "so the model reads ünïcode 🙂"
    rc, out = run_cli(capsys, "--home", str(home.root), "tokenizer", "encode", "--tokenizer", tid, "--json", text)
    enc = json.loads(out)
    assert b"".join(bytes.fromhex(h) for h in enc["piece_bytes"]) == text.encode()
    assert " the" in enc["pieces"] and " reads" in enc["pieces"]  # merges learned from the corpus
    rc, out = run_cli(
        capsys, "--home", str(home.root), "tokenizer", "decode", "--tokenizer", tid, ",".join(map(str, enc["ids"]))
    )
    assert rc == 0 and out == text + "\n"
    rc, out = run_cli(
        capsys,
        "--home",
        str(home.root),
        "tokenizer",
        "encode",
        "--tokenizer",
        str(home.tokenizers / tid / "tokenizer.json"),
        text,
    )
    assert rc == 0 and f"{len(enc['ids'])} tokens" in out


def test_user_errors_are_arlm_errors(home, capsys) -> None:
    with pytest.raises(ArlmError, match="not found"):
        run_cli(capsys, "--home", str(home.root), "tokenizer", "encode", "--tokenizer", "nope", "x")
    with pytest.raises(ArlmError, match="vocab_size"):
        run_cli(capsys, "--home", str(home.root), "tokenizer", "build", "--corpus-version", "x", "--vocab-size", "5")
