"""Exact held-out metrics of a language model over a flat array of token ids.

Every token is predicted exactly once: the array is cut into non-overlapping windows of
``block_size`` inputs, each window's targets being its inputs shifted by one, so the sum of
per-token losses is the negative log-likelihood of the whole array (the first token excepted, or
included when ``bos_id`` gives it a context). Windows are batched, the last shorter window is
scored on its own; nothing is padded, so no position is counted twice or skipped.

Models with unbounded context (``max_context is None``: RNNs, n-gram) are scored with the same
``block_size`` windows and a fresh state per window, like the transformer: figures of different
kinds are then measured under the same conditioning budget. Carrying state across windows would
give the recurrent kinds a slightly lower (better) figure.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from arlm.errors import ConfigError, DataError
from arlm.evaluation.bits import bits_per_byte


def exact_windows(seq: np.ndarray, block_size: int, batch_size: int):
    """Yield (inputs, targets) int64 arrays [B, T] covering seq[1:] as targets exactly once."""
    n_pred = len(seq) - 1
    n_full = n_pred // block_size
    for start in range(0, n_full, batch_size):
        stop = min(start + batch_size, n_full)
        lo, hi = start * block_size, stop * block_size
        yield (seq[lo:hi].reshape(-1, block_size), seq[lo + 1 : hi + 1].reshape(-1, block_size))
    rest = n_pred - n_full * block_size
    if rest:
        lo = n_full * block_size
        yield seq[lo : lo + rest][None, :], seq[lo + 1 : lo + 1 + rest][None, :]


def evaluate_tokens(
    model: Any,
    tokens: np.ndarray,
    n_bytes: int,
    block_size: int,
    batch_size: int,
    device: str | torch.device = "cpu",
    bos_id: int | None = None,
) -> dict[str, float]:
    """Loss (nats/token), perplexity, bits per byte and next-token accuracy of ``model`` on ``tokens``.

    ``n_bytes`` is the UTF-8 byte count of the text the tokens encode (the bits-per-byte
    denominator). With ``bos_id`` (usually the end-of-text id) the first token is predicted from
    that id, so the nats cover every byte; without it the first token is context only.
    The model is moved to ``device`` and put in eval mode for the call (its mode is restored).
    """
    if block_size < 1 or batch_size < 1:
        raise ConfigError(f"evaluate_tokens: block_size and batch_size must be >= 1, got {block_size} and {batch_size}")
    limit = getattr(model, "max_context", None)
    if limit is not None and block_size > limit:
        raise ConfigError(f"evaluate_tokens: block_size {block_size} exceeds the model's context limit {limit}")
    if n_bytes <= 0:
        raise DataError(f"evaluate_tokens: n_bytes must be > 0, got {n_bytes}")
    seq = np.asarray(tokens).astype(np.int64, copy=False).ravel()
    if bos_id is not None:
        seq = np.concatenate([np.array([bos_id], dtype=np.int64), seq])
    if len(seq) < 2:
        raise DataError("evaluate_tokens: need at least 2 tokens (or 1 with bos_id) to score")

    device = torch.device(device)
    was_training = model.training
    model.to(device)
    model.eval()
    total_nats = 0.0
    correct = 0
    n_tokens = 0
    try:
        with torch.inference_mode():
            for inputs, targets in exact_windows(seq, block_size, batch_size):
                x = torch.from_numpy(np.ascontiguousarray(inputs)).to(device)
                y = torch.from_numpy(np.ascontiguousarray(targets)).to(device)
                logits, _ = model(x)
                flat = logits.reshape(-1, logits.size(-1)).float()
                total_nats += float(F.cross_entropy(flat, y.reshape(-1), reduction="sum").double())
                correct += int((flat.argmax(-1) == y.reshape(-1)).sum())
                n_tokens += y.numel()
    finally:
        model.train(was_training)
    loss = total_nats / n_tokens
    if not math.isfinite(loss):
        raise DataError(
            f"evaluation gave a non-finite loss ({loss}) over {n_tokens} tokens: the model's "
            "weights are broken (corrupted file or diverged training); nothing recorded"
        )
    return {
        "loss": loss,
        "perplexity": math.exp(min(loss, 700.0)),
        "bits_per_byte": bits_per_byte(total_nats, n_bytes),
        "accuracy": correct / n_tokens,
        "n_tokens": n_tokens,
        "n_bytes": int(n_bytes),
    }
