"""Token datasets: the manifest/shard format, determinism, reuse, and corruption detection."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from arlm.errors import DataError, NotFoundError
from arlm.tokenizers import TokenDataset, TokenizerConfig, build_tokenizer, load_tokenizer, tokenize
from arlm.tokenizers.dataset import dtype_for_vocab


def split_texts(corpus, split: str) -> list[str]:
    return [t for f in corpus.files[split] for t in pq.read_table(f)["text"].to_pylist()]


@pytest.fixture()
def art(corpus, tmp_path: Path):
    return build_tokenizer(TokenizerConfig(vocab_size=500), corpus, tmp_path / "tokenizers")


def test_shards_hold_documents_separated_by_eot(corpus, art, tmp_path: Path) -> None:
    ds = tokenize(corpus, art, tmp_path / "tokens")
    tok = load_tokenizer(art.path)
    assert ds.path == tmp_path / "tokens" / ds.id and not ds.reused
    m = ds.manifest
    assert (m["tokenizer_id"], m["corpus_id"], m["dtype"]) == (art.id, corpus.id, "uint16")
    assert (ds.vocab_size, ds.eot_id, m["pad_id"]) == (tok.vocab_size, 0, 1)
    for split in ("train", "val", "test"):
        texts = split_texts(corpus, split)
        expected = np.concatenate([np.asarray(tok.encode(t) + [tok.eot_id]) for t in texts])
        shards = ds.shards(split)
        assert all(isinstance(s, np.memmap) and s.dtype == np.uint16 for s in shards)
        assert np.array_equal(ds.tokens(split), expected)
        assert ds.n_tokens(split) == len(expected) and ds.manifest["splits"][split]["n_docs"] == len(texts)
        assert ds.n_bytes(split) == sum(len(t.encode("utf-8")) for t in texts)
        starts = ds.doc_starts(split)[0]
        assert len(starts) == len(texts) and ds.tokens(split)[starts[1] - 1] == tok.eot_id
        assert tok.decode(ds.tokens(split)[starts[2] : starts[3] - 1]) == texts[2]


def test_small_shards_split_at_document_boundaries(corpus, art, tmp_path: Path) -> None:
    ds = tokenize(corpus, art, tmp_path / "tokens", shard_tokens=500)
    one = tokenize(corpus, art, tmp_path / "tokens", shard_tokens=10**9)
    entries = ds.manifest["splits"]["train"]["shards"]
    assert len(entries) > 3 and all(e["file"].startswith("train-") for e in entries)
    shards = ds.shards("train")
    assert all(s[-1] == ds.eot_id for s in shards)  # every shard ends with a whole document
    assert all(len(s) >= 500 for s in shards[:-1])
    assert np.array_equal(ds.tokens("train"), one.tokens("train"))
    assert sum(len(s) for s in ds.doc_starts("train")) == ds.manifest["splits"]["train"]["n_docs"]


def test_same_inputs_give_identical_shards_on_every_backend(corpus, art, tmp_path: Path) -> None:
    a = tokenize(corpus, art, tmp_path / "a", backend="serial")
    b = tokenize(corpus, art, tmp_path / "b", backend="threads", workers=2)
    c = tokenize(corpus, art, tmp_path / "c", backend="processes", workers=2)
    assert a.id == b.id == c.id
    for other in (b, c):
        for f in sorted(p.name for p in a.path.iterdir()):
            assert (a.path / f).read_bytes() == (other.path / f).read_bytes(), f


def test_second_tokenize_reuses(corpus, art, tmp_path: Path) -> None:
    first = tokenize(corpus, art, tmp_path)
    stamp = (first.path / "manifest.json").stat().st_mtime_ns
    again = tokenize(corpus, art, tmp_path)
    assert again.reused and again.id == first.id
    assert (again.path / "manifest.json").stat().st_mtime_ns == stamp


def test_corrupted_shard_is_detected_by_checksum(corpus, art, tmp_path: Path) -> None:
    ds = tokenize(corpus, art, tmp_path)
    ds.verify()
    shard = ds.path / ds.manifest["splits"]["val"]["shards"][0]["file"]
    data = bytearray(shard.read_bytes())
    data[10] ^= 0xFF  # same size, one flipped byte
    shard.write_bytes(bytes(data))
    fresh = TokenDataset.open(ds.path)
    with pytest.raises(DataError, match=rf"{shard.name}.*sha256"):
        fresh.verify()
    with pytest.raises(DataError, match=shard.name):
        fresh.shards("val")  # the loader's path checks too
    assert len(fresh.shards("train")) == 1  # other splits stay readable


def test_truncated_or_missing_shard_is_detected(corpus, art, tmp_path: Path) -> None:
    ds = tokenize(corpus, art, tmp_path)
    shard = ds.path / ds.manifest["splits"]["test"]["shards"][0]["file"]
    shard.write_bytes(shard.read_bytes()[:-2])
    with pytest.raises(DataError, match=rf"{shard.name}.*corrupt"):
        TokenDataset.open(ds.path).shards("test", verify=False)
    shard.unlink()
    with pytest.raises(DataError, match=rf"{shard.name}.*missing"):
        TokenDataset.open(ds.path).verify()


def test_bytes_and_char_kinds_tokenize_too(corpus, tmp_path: Path) -> None:
    for kind in ("bytes", "char"):
        art = build_tokenizer(TokenizerConfig(kind=kind), corpus, tmp_path / "tok")
        ds = tokenize(corpus, art, tmp_path / "tokens")
        texts = split_texts(corpus, "val")
        if kind == "bytes":
            assert ds.n_tokens("val") == ds.n_bytes("val") + len(texts)
        tok = load_tokenizer(art.path)
        assert tok.decode(ds.tokens("val")) == "<|endoftext|>".join(texts) + "<|endoftext|>"


def test_empty_split_has_no_shards(tmp_path: Path) -> None:
    from .conftest import make_docs, write_corpus

    c = write_corpus(tmp_path / "lake", {"train": make_docs(5, 1), "val": []})
    art = build_tokenizer(TokenizerConfig(kind="bytes"), c, tmp_path / "tok")
    ds = tokenize(c, art, tmp_path / "tokens")
    assert ds.n_tokens("val") == 0 and ds.shards("val") == [] and len(ds.tokens("val")) == 0


def test_open_errors_and_dtype_choice(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="manifest.json"):
        TokenDataset.open(tmp_path)
    assert dtype_for_vocab(65535) == np.uint16 and dtype_for_vocab(65536) == np.uint32


def test_leftovers_of_killed_writers_are_cleaned(corpus, art, tmp_path: Path) -> None:
    import os
    import time

    root = tmp_path / "tokens"
    stale, fresh = root / "abc.tmp-11111111", root / "def.tmp-22222222"
    for d in (stale, fresh):
        d.mkdir(parents=True)
        (d / "train-00000.bin").write_bytes(b"partial")
    old = time.time() - 2 * 3600
    os.utime(stale, (old, old))
    tokenize(corpus, art, root)
    assert not stale.exists() and fresh.exists()  # a concurrent writer's folder is left alone


def test_training_loader_reads_the_shards(corpus, art, tmp_path: Path) -> None:
    """The training sampler (arlm.training) draws its windows straight from these memory maps."""
    sampler_mod = pytest.importorskip("arlm.training.sampler")
    ds = tokenize(corpus, art, tmp_path, shard_tokens=2000)
    data = sampler_mod.open_token_data(ds.path)
    sampler = sampler_mod.WindowSampler(data.shards("train"), block_size=16, seed=0, stream=0)
    shard, start = sampler.offsets(0, 8)
    windows = sampler.windows(0, 8, slice(0, 8))
    shards = ds.shards("train")
    for row, s, o in zip(windows, shard, start):
        assert np.array_equal(row, np.asarray(shards[s][o : o + 17], dtype=np.int64))
    assert windows.max() < ds.vocab_size


def test_token_dataset_from_arrays_round_trips_and_rejects_out_of_range_ids(tmp_path):
    import numpy as np

    from arlm.errors import DataError
    from arlm.tokenizers import TokenDataset, token_dataset_from_arrays

    train_ids, val_ids = np.arange(1000) % 70, np.arange(300) % 70
    ds = token_dataset_from_arrays(
        tmp_path / "ds", {"train": train_ids, "val": val_ids}, vocab_size=70, eot_id=0, pad_id=1, n_bytes={"val": 450}
    )
    again = TokenDataset.open(tmp_path / "ds")
    again.verify()
    assert again.dtype == np.uint16 and again.vocab_size == 70
    assert np.array_equal(again.tokens("train"), train_ids) and np.array_equal(ds.tokens("val"), val_ids)
    assert again.n_bytes("val") == 450 and again.n_bytes("train") == 1000
    with pytest.raises(DataError, match="token ids"):
        token_dataset_from_arrays(tmp_path / "bad", {"train": np.array([3, 70])}, vocab_size=70, eot_id=0, pad_id=1)
    assert not (tmp_path / "bad").exists() and [p.name for p in tmp_path.iterdir()] == ["ds"]
