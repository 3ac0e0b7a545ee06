"""Write small token datasets in the documented on-disk format (manifest.json + shards), so the
training tests do not depend on the tokenizer stage."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest


def pattern_tokens(n: int, vocab_size: int, seed: int = 0) -> np.ndarray:
    """A learnable stream: short repeated 'words' of a fixed grammar plus some noise."""
    rng = np.random.default_rng(seed)
    words = [rng.integers(2, vocab_size, size=rng.integers(2, 6)) for _ in range(12)]
    out: list[int] = []
    while len(out) < n:
        w = words[int(rng.integers(0, len(words)))]
        out.extend(int(t) for t in w)
        out.append(0)  # eot-like separator
        if rng.random() < 0.05:
            out.append(int(rng.integers(2, vocab_size)))
    return np.array(out[:n])


def write_token_dataset(path: Path, splits: dict[str, list[np.ndarray]], vocab_size: int) -> Path:
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    dtype = np.dtype("uint16" if vocab_size <= 65535 else "uint32")
    manifest = {
        "id": path.name,
        "tokenizer_id": "test",
        "corpus_id": "test",
        "dtype": dtype.name,
        "vocab_size": vocab_size,
        "eot_id": 0,
        "pad_id": 1,
        "splits": {},
    }
    for split, shards in splits.items():
        entries = []
        for i, arr in enumerate(shards):
            f = path / f"{split}-{i:05d}.bin"
            data = np.asarray(arr, dtype=dtype).tobytes()
            f.write_bytes(data)
            idx = f"{split}-{i:05d}.idx.npy"
            np.save(path / idx, np.array([0], dtype=np.int64))
            entries.append(
                {
                    "file": f.name,
                    "index": idx,
                    "n_tokens": int(len(arr)),
                    "n_docs": 1,
                    "sha256": hashlib.sha256(data).hexdigest(),
                }
            )
        manifest["splits"][split] = {
            "n_tokens": int(sum(len(a) for a in shards)),
            "n_bytes": int(sum(len(a) for a in shards)) * 3,
            "n_docs": len(shards),
            "shards": entries,
        }
    (path / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return path


def make_dataset(
    path: Path, vocab_size: int = 48, n_train: int = 20000, n_val: int = 4000, train_shards: int = 2
) -> Path:
    tokens = pattern_tokens(n_train + n_val, vocab_size)
    train = np.array_split(tokens[:n_train], train_shards)
    return write_token_dataset(
        path, {"train": list(train), "val": [tokens[n_train:]], "test": [tokens[n_train:]]}, vocab_size
    )


@pytest.fixture(autouse=True)
def single_torch_thread():
    """One intra-op thread: the CI machine has 2 cores shared by several test processes, and an
    oversubscribed OpenMP pool made a small training step 30x slower (16 ms vs 530 ms)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
