"""Deterministic, rank-disjoint batches of token windows from memory-mapped shards.

The batch of optimizer step ``s`` is a pure function of ``(seed, s)``: the GLOBAL batch's window
offsets are drawn from a generator keyed by both, and rank ``r`` of ``w`` takes rows
``[r*B/w, (r+1)*B/w)`` of it, then cuts those into ``grad_accum`` micro-batches. So ranks never
overlap, a 2-worker run sees exactly the batch a 1-worker run sees, and the sampler's position in
a checkpoint is simply the step: resuming at step ``s`` replays nothing and skips nothing.
Windows never cross a shard boundary (shards are whole documents concatenated).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from arlm.errors import DataError

TRAIN_STREAM = 0
EVAL_STREAM = 1


def open_token_data(path: str | os.PathLike):
    """The token dataset at ``path``: ``arlm.tokenizers.TokenDataset`` (language models) or, when
    its manifest says task "translation", ``arlm.translation.dataset.PairTokenDataset``."""
    from arlm.translation.dataset import PairTokenDataset, is_pair_dataset

    if is_pair_dataset(path):
        return PairTokenDataset.open(Path(path))
    from arlm.tokenizers import TokenDataset

    return TokenDataset.open(Path(path))


def longest_shard(dataset, split: str) -> int:
    """Tokens in the split's largest shard, from the manifest (no data read): a training window
    must fit inside one shard."""
    try:
        shards = dataset.manifest["splits"][split]["shards"]
    except KeyError:
        raise DataError(
            f"{dataset.path}: token dataset has no {split!r} split (splits: {', '.join(dataset.splits)})"
        ) from None
    return max((int(s["n_tokens"]) for s in shards), default=0)


class WindowSampler:
    """Draws windows of ``block_size + 1`` tokens (input + shifted target) uniformly over all
    positions of a split's shards."""

    def __init__(self, shards: list[np.ndarray], block_size: int, seed: int, stream: int):
        self.shards = [s for s in shards if len(s) > block_size]
        if not self.shards:
            raise DataError(f"no shard holds more than block_size={block_size} tokens")
        self.block_size = block_size
        self.seed = seed
        self.stream = stream
        self.counts = np.array([len(s) - block_size for s in self.shards], dtype=np.int64)
        self.cum = np.cumsum(self.counts)

    def offsets(self, key: int, n: int) -> tuple[np.ndarray, np.ndarray]:
        """(shard index, start offset) of the ``n`` windows of draw number ``key``."""
        rng = np.random.default_rng([self.seed, self.stream, key])
        flat = rng.integers(0, int(self.cum[-1]), size=n, dtype=np.int64)
        shard = np.searchsorted(self.cum, flat, side="right")
        start = flat - np.concatenate(([0], self.cum[:-1]))[shard]
        return shard, start

    def windows(self, key: int, n: int, rows: slice) -> np.ndarray:
        """int64 array [rows, block_size + 1] of the selected rows of draw ``key``."""
        shard, start = self.offsets(key, n)
        T = self.block_size
        out = np.empty((len(range(*rows.indices(n))), T + 1), dtype=np.int64)
        for i, (s, o) in enumerate(zip(shard[rows], start[rows])):
            out[i] = self.shards[s][o : o + T + 1]
        return out


class RankBatches:
    """The rank's share of each global batch: ``micro_batches(step)`` yields (x, y) tensors."""

    def __init__(
        self,
        sampler: WindowSampler,
        global_batch: int,
        rank: int,
        world_size: int,
        grad_accum: int,
        device: torch.device,
    ):
        self.sampler = sampler
        self.global_batch = global_batch
        self.per_rank = global_batch // world_size
        self.rank = rank
        self.grad_accum = grad_accum
        self.micro = self.per_rank // grad_accum
        self.device = device

    def micro_batches(self, key: int):
        base = self.rank * self.per_rank
        for m in range(self.grad_accum):
            lo = base + m * self.micro
            w = self.sampler.windows(key, self.global_batch, slice(lo, lo + self.micro))
            yield to_device(w, self.device)


def to_device(windows: np.ndarray, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """(x, y) on ``device``; on CUDA through pinned memory with a non-blocking copy, so the
    host-to-device transfer overlaps the previous step's kernels instead of syncing."""
    t = torch.from_numpy(windows)
    if device.type == "cuda":
        t = t.pin_memory().to(device, non_blocking=True)
    elif t.device != device:
        t = t.to(device)
    return t[:, :-1], t[:, 1:]
