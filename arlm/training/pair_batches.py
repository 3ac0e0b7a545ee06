"""Deterministic, rank-disjoint batches of sentence pairs for the seq2seq kinds.

The counterpart of ``arlm.training.sampler`` for a pair token dataset
(``arlm.translation.dataset.PairTokenDataset``): pairs are packed by token count
(``arlm.models.seq2seq.token_batches``: at most ``max_tokens`` padded tokens a side, similar
lengths together), one epoch's batch order shuffled with ``(seed, epoch)``; optimizer step ``s``
takes the ``s``-th batch of the concatenated epochs. So a step's global batch is a function of
``(seed, s)`` alone, resuming at step ``s`` replays and skips nothing, and rank ``r`` of ``w``
takes pairs ``r, r + w, ...`` of it, cut into ``grad_accum`` micro-batches the same way.

Pairs longer than the model's limits (source + EOS over ``max_source_len``, BOS + target over
``block_size``) are left out and counted (``dropped``): cleaning's ``max_length`` normally removes
them first. A batch with fewer pairs than ranks x micro-batches repeats its pairs cyclically so
that every rank has work (a rare batch of a few very long pairs).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from arlm.errors import DataError
from arlm.models.seq2seq import make_batch, token_batches


class PairBatches:
    """``micro_batches(step)`` yields ``(src, tgt_in, tgt_out, src_mask)`` tensors (the seq2seq
    forward's arguments) for this rank; ``tokens(step)`` is the global batch's target tokens."""

    def __init__(
        self,
        data: Any,
        split: str,
        max_tokens: int,
        seed: int,
        rank: int,
        world_size: int,
        grad_accum: int,
        device: torch.device,
        max_source_len: int,
        max_target_len: int,
    ):
        self.data, self.split = data, split
        self.max_tokens, self.seed = max_tokens, seed
        self.rank, self.world_size, self.grad_accum, self.device = rank, world_size, grad_accum, device
        src_len = np.asarray(data.lengths(split, "src"), dtype=np.int64)
        tgt_len = np.asarray(data.lengths(split, "tgt"), dtype=np.int64)
        keep = (src_len + 1 <= max_source_len) & (tgt_len + 1 <= max_target_len) & (src_len > 0)
        self.index = np.nonzero(keep)[0]
        self.dropped = int(len(src_len) - len(self.index))
        if not len(self.index):
            raise DataError(
                f"{data.path}: no pair of the {split!r} split fits the model (source + EOS <= {max_source_len}, "
                f"BOS + target <= {max_target_len} tokens)"
            )
        self.src_len, self.tgt_len = src_len[self.index], tgt_len[self.index]
        self.max_tokens = max(max_tokens, int(max(self.src_len.max(), self.tgt_len.max())) + 1)
        self._epochs: list[list[list[int]]] = []  # batches of each epoch computed so far
        self._starts: list[int] = [0]  # first step of each epoch

    def epoch_batches(self, epoch: int) -> list[list[int]]:
        """The batches of ``epoch`` (positions into the kept pairs), computed once."""
        while len(self._epochs) <= epoch:
            batches = token_batches(
                self.src_len.tolist(), self.tgt_len.tolist(), self.max_tokens, seed=self.seed, epoch=len(self._epochs)
            )
            self._epochs.append(batches)
            self._starts.append(self._starts[-1] + len(batches))
        return self._epochs[epoch]

    def global_batch(self, step: int) -> list[int]:
        """Pair indices (into the split) of the global batch of ``step``."""
        epoch = 0
        while True:
            batches = self.epoch_batches(epoch)
            if step < self._starts[epoch + 1]:
                return [int(self.index[i]) for i in batches[step - self._starts[epoch]]]
            epoch += 1

    def n_batches(self, epoch: int = 0) -> int:
        return len(self.epoch_batches(epoch))

    def tokens(self, step: int) -> int:
        """Target tokens (each pair's EOS included) of the global batch of ``step``."""
        idx = self.global_batch(step)
        return int(sum(len(t) + 1 for t in self.data.sequences(self.split, "tgt", idx)))

    def rank_share(self, indices: list[int]) -> list[list[int]]:
        need = self.world_size * self.grad_accum
        if len(indices) < need:
            indices = (indices * need)[:need]
        mine = indices[self.rank :: self.world_size]
        return [mine[m :: self.grad_accum] for m in range(self.grad_accum)]

    def tensors(self, indices: list[int]) -> tuple[torch.Tensor, ...]:
        src, tgt = self.data.pairs(self.split, indices)
        m = self.data
        b = make_batch(src, tgt, m.pad_id, m.bos_id, m.eos_id)
        non_blocking = self.device.type == "cuda"
        return tuple(t.to(self.device, non_blocking=non_blocking) for t in (b.src, b.tgt_in, b.tgt_out, b.src_mask))

    def micro_batches(self, step: int):
        for chunk in self.rank_share(self.global_batch(step)):
            yield self.tensors(chunk)
