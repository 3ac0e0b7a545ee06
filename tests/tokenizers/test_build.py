"""Tokenizer versions: content-addressed ids, reuse, byte-identical rebuilds, meta, clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from arlm.errors import ConfigError, DataError, NotFoundError
from arlm.tokenizers import TokenizerArtifact, TokenizerConfig, build_tokenizer, load_tokenizer
from arlm.versioning import read_json

from .conftest import make_docs, write_corpus


def test_build_writes_tokenizer_and_meta(corpus, tmp_path: Path) -> None:
    art = build_tokenizer(TokenizerConfig(vocab_size=500), corpus, tmp_path / "tok")
    assert art.path == tmp_path / "tok" / art.id and not art.reused
    assert (art.path / "tokenizer.json").exists()
    meta = read_json(art.path / "tokenizer_meta.json")
    assert meta["kind"] == "bpe" and meta["corpus_id"] == corpus.id and meta["config"]["vocab_size"] == 500
    assert meta["vocab_size"] == art.vocab_size <= 500 and (meta["eot_id"], meta["pad_id"]) == (0, 1)
    assert set(meta["tokens_per_byte"]) == {"train", "val", "test"}
    assert all(0.05 < v < 1.0 for v in meta["tokens_per_byte"].values())
    # the ratio is exact: tokens of the split's text over its UTF-8 bytes
    tok = load_tokenizer(art.path)
    val = [
        t for f in corpus.files["val"] for t in __import__("pyarrow.parquet").parquet.read_table(f)["text"].to_pylist()
    ]
    n_tok = sum(len(tok.encode(t)) for t in val)
    n_bytes = sum(len(t.encode()) for t in val)
    assert meta["split_stats"]["val"] == {"n_tokens": n_tok, "n_bytes": n_bytes}
    assert not list((tmp_path / "tok").glob("*.tmp-*"))


def test_same_inputs_same_id_and_identical_files(corpus, tmp_path: Path) -> None:
    cfg = TokenizerConfig(vocab_size=400)
    a = build_tokenizer(cfg, corpus, tmp_path / "a")
    b = build_tokenizer(cfg, corpus, tmp_path / "b")
    assert a.id == b.id
    assert (a.path / "tokenizer.json").read_bytes() == (b.path / "tokenizer.json").read_bytes()
    assert build_tokenizer(TokenizerConfig(vocab_size=401), corpus, tmp_path / "a").id != a.id


def test_second_build_reuses(corpus, tmp_path: Path) -> None:
    cfg = TokenizerConfig(kind="char")
    first = build_tokenizer(cfg, corpus, tmp_path)
    stamp = (first.path / "tokenizer.json").stat().st_mtime_ns
    again = build_tokenizer(cfg, corpus, tmp_path)
    assert again.reused and again.id == first.id and again.meta == first.meta
    assert (again.path / "tokenizer.json").stat().st_mtime_ns == stamp
    assert TokenizerArtifact.open(first.path).vocab_size == first.vocab_size


def test_other_corpus_other_id(corpus, tmp_path: Path) -> None:
    other = write_corpus(tmp_path / "lake2", {"train": make_docs(30, 9)})
    cfg = TokenizerConfig(vocab_size=300)
    assert build_tokenizer(cfg, corpus, tmp_path / "t").id != build_tokenizer(cfg, other, tmp_path / "t").id


def test_max_train_bytes_limits_training_text(corpus, tmp_path: Path) -> None:
    small = build_tokenizer(TokenizerConfig(vocab_size=2000, max_train_bytes=300), corpus, tmp_path)
    full = build_tokenizer(TokenizerConfig(vocab_size=2000), corpus, tmp_path)
    assert small.vocab_size < full.vocab_size


def test_bytes_kind_ignores_vocab_size_in_its_id(corpus, tmp_path: Path) -> None:
    a = build_tokenizer(TokenizerConfig(kind="bytes"), corpus, tmp_path)
    b = build_tokenizer(TokenizerConfig(kind="bytes", vocab_size=9999), corpus, tmp_path)
    assert a.id == b.id and b.reused and a.vocab_size == 258


def test_config_errors_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="vocab_size"):
        TokenizerConfig.parse({"vocab_size": 100})
    with pytest.raises(ConfigError, match="kind"):
        TokenizerConfig.parse(kind="wordpiece")
    assert TokenizerConfig.parse({"kind": "char"}, vocab_size=None).vocab_size == 4096


def test_missing_split_and_empty_corpus_raise_data_errors(tmp_path: Path) -> None:
    no_train = write_corpus(tmp_path / "l1", {"val": make_docs(3, 1)})
    with pytest.raises(DataError, match="no split 'train'"):
        build_tokenizer(TokenizerConfig(), no_train, tmp_path / "t")
    empty = write_corpus(tmp_path / "l2", {"train": ["", ""]})
    with pytest.raises(DataError, match="no training text"):
        build_tokenizer(TokenizerConfig(), empty, tmp_path / "t")
    assert not list((tmp_path / "t").glob("*")) if (tmp_path / "t").exists() else True


def test_unreadable_parquet_names_the_file(corpus, tmp_path: Path) -> None:
    bad = corpus.files["train"][0]
    bad.write_bytes(b"not parquet")
    with pytest.raises(DataError, match=bad.name):
        build_tokenizer(TokenizerConfig(), corpus, tmp_path / "t")


def test_load_tokenizer_missing_path_is_not_found(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="no tokenizer.json"):
        load_tokenizer(tmp_path / "nope")
