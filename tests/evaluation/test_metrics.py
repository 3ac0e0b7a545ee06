"""Exactness of the held-out metrics and the baselines."""

from __future__ import annotations

import math
import os

import numpy as np
import pytest
import torch
from torch import nn

from arlm.errors import ConfigError, DataError
from arlm.evaluation import compression_baselines, evaluate_tokens, unigram_bits_per_byte
from arlm.models.base import LanguageModel, ModelConfig


class BigramTable(LanguageModel):
    """logits = table[previous token]: the exact NLL is computable by hand."""

    kind = "bigram-table"

    def __init__(self, vocab_size: int = 13):
        super().__init__(ModelConfig(vocab_size=vocab_size, block_size=8))
        self.table = nn.Parameter(torch.randn(vocab_size, vocab_size))

    def forward(self, idx, targets=None):
        return self.table[idx], None


def _bigram_nll(model: BigramTable, seq: np.ndarray) -> tuple[float, int]:
    logp = torch.log_softmax(model.table.detach().double(), -1).numpy()
    nats = -sum(logp[a, b] for a, b in zip(seq[:-1], seq[1:]))
    correct = sum(int(logp[a].argmax() == b) for a, b in zip(seq[:-1], seq[1:]))
    return nats, correct


@pytest.mark.parametrize("n, block, batch", [(100, 8, 3), (97, 8, 64), (9, 8, 1), (2, 5, 2)])
def test_every_token_predicted_once(n, block, batch):
    torch.manual_seed(0)
    model = BigramTable()
    tokens = np.random.default_rng(n).integers(0, 13, size=n).astype(np.uint16)
    r = evaluate_tokens(model, tokens, n_bytes=3 * n, block_size=block, batch_size=batch)
    nats, correct = _bigram_nll(model, tokens.astype(np.int64))
    assert r["n_tokens"] == n - 1
    assert r["loss"] == pytest.approx(nats / (n - 1), rel=1e-5)
    assert r["bits_per_byte"] == pytest.approx(nats / (3 * n) / math.log(2), rel=1e-5)
    assert r["perplexity"] == pytest.approx(math.exp(r["loss"]), rel=1e-6)
    assert r["accuracy"] == pytest.approx(correct / (n - 1))
    assert r["n_bytes"] == 3 * n


def test_bos_id_scores_the_first_token_too():
    torch.manual_seed(1)
    model = BigramTable()
    tokens = np.arange(20) % 13
    r = evaluate_tokens(model, tokens, n_bytes=20, block_size=8, batch_size=4, bos_id=0)
    nats, _ = _bigram_nll(model, np.concatenate([[0], tokens]))
    assert r["n_tokens"] == 20
    assert r["loss"] * 20 == pytest.approx(nats, rel=1e-5)


def test_gpt_windows_do_not_overlap():
    """The GPT sees each window from scratch: the figure equals a per-window forward by hand."""
    from arlm.models import build_model

    torch.manual_seed(2)
    model = build_model("gpt", 50, 16, n_layer=1, n_head=2, n_embd=16).eval()
    tokens = np.random.default_rng(0).integers(0, 50, size=40)
    r = evaluate_tokens(model, tokens, n_bytes=40, block_size=16, batch_size=2)
    nats = 0.0
    with torch.no_grad():
        for s in range(0, 39, 16):
            x = torch.tensor(tokens[s : min(s + 16, 39)])[None]
            y = torch.tensor(tokens[s + 1 : min(s + 17, 40)])[None]
            logits, _ = model(x)
            nats += float(torch.nn.functional.cross_entropy(logits[0], y[0], reduction="sum"))
    assert r["n_tokens"] == 39
    assert r["loss"] * 39 == pytest.approx(nats, rel=1e-4)
    with pytest.raises(ConfigError, match="context limit 16"):
        evaluate_tokens(model, tokens, 40, block_size=32, batch_size=2)


def test_bad_inputs():
    model = BigramTable()
    with pytest.raises(DataError, match="at least 2 tokens"):
        evaluate_tokens(model, np.array([3]), 1, 8, 2)
    with pytest.raises(DataError, match="n_bytes"):
        evaluate_tokens(model, np.array([3, 4]), 0, 8, 2)
    with pytest.raises(ConfigError, match="block_size"):
        evaluate_tokens(model, np.array([3, 4]), 2, 0, 2)


def test_compression_baselines_order_of_magnitude():
    repetitive = b"the cat sat on the mat. " * 2000
    r = compression_baselines(repetitive)
    assert set(r) == {"gzip", "bzip2", "xz"}
    assert all(0 < v < 0.2 for v in r.values())
    noise = compression_baselines(os.urandom(20000))
    assert all(7.9 < v < 8.2 for v in noise.values())
    with pytest.raises(DataError, match="empty"):
        compression_baselines(b"")


def test_unigram_bits_per_byte():
    train = np.array([0, 0, 0, 1])
    test = np.array([0, 1, 2])
    # add-one counts over vocab 3: [4, 2, 1] / 7
    expected = -(math.log(4 / 7) + math.log(2 / 7) + math.log(1 / 7)) / 6 / math.log(2)
    assert unigram_bits_per_byte(train, test, 3, n_bytes=6) == pytest.approx(expected)
    uniform = unigram_bits_per_byte(np.array([], dtype=np.int64), test, 4, n_bytes=3)
    assert uniform == pytest.approx(2.0)
    with pytest.raises(DataError, match="outside"):
        unigram_bits_per_byte(train, np.array([5]), 3, 1)
