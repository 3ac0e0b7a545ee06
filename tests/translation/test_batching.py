"""Pairs of token ids to tensors, and batches packed by token count."""

from __future__ import annotations

import random

import pytest
import torch

from arlm.errors import ConfigError
from arlm.models.seq2seq import make_batch, source_batch, token_batches


def test_batch_layout():
    b = make_batch([[5, 6, 7], [8]], [[9], [10, 11]], pad_id=1, bos_id=0, eos_id=2)
    assert b.src.tolist() == [[5, 6, 7, 2], [8, 2, 1, 1]]
    assert b.src_mask.tolist() == [[True] * 4, [True, True, False, False]]
    assert b.tgt_in.tolist() == [[0, 9, 1], [0, 10, 11]]
    assert b.tgt_out.tolist() == [[9, 2, -1], [10, 11, 2]]
    assert b.n_target_tokens == 5
    src, mask = source_batch([[4], [4, 4]], pad_id=1, eos_id=None)
    assert src.tolist() == [[4, 1], [4, 4]] and mask.dtype == torch.bool


def test_token_batches_respect_the_budget_and_cover_every_pair_once():
    rng = random.Random(0)
    src = [rng.randint(1, 40) for _ in range(500)]
    tgt = [rng.randint(1, 40) for _ in range(500)]
    batches = token_batches(src, tgt, max_tokens=256, seed=1)
    assert sorted(i for b in batches for i in b) == list(range(500))
    for b in batches:
        assert len(b) * max(src[i] + 1 for i in b) <= 256
        assert len(b) * max(tgt[i] + 1 for i in b) <= 256
    assert token_batches(src, tgt, 256, seed=1) == batches  # a function of (seed, epoch)
    assert token_batches(src, tgt, 256, seed=1, epoch=1) != batches
    assert all(len(b) <= 4 for b in token_batches(src, tgt, 256, max_sentences=4))
    with pytest.raises(ConfigError, match="pair 3 has 51 source / 2 target tokens"):
        token_batches([1, 1, 1, 50], [1, 1, 1, 1], max_tokens=40)
