"""Reference points for bits per byte that need no trained model.

A language model worth registering should beat general-purpose compressors on held-out text
(otherwise ``xz`` is the better model), and it must beat a unigram model of its own tokens
(otherwise it learned nothing about context).
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import math

import numpy as np

from arlm.errors import DataError
from arlm.evaluation.bits import bits_per_byte


def compression_baselines(data: bytes) -> dict[str, float]:
    """Bits per byte of ``data`` under gzip -9, bzip2 -9 and xz -9e (Python's gzip/bz2/lzma).

    Container overhead (headers, checksums) is included, as it is for a file on disk; it is
    negligible beyond a few KB of text. gzip's timestamp is zeroed so the figure is reproducible.
    """
    if not data:
        raise DataError("compression_baselines: no bytes to compress (empty text)")
    n = len(data)
    sizes = {
        "gzip": len(gzip.compress(data, compresslevel=9, mtime=0)),
        "bzip2": len(bz2.compress(data, compresslevel=9)),
        "xz": len(lzma.compress(data, preset=9 | lzma.PRESET_EXTREME)),
    }
    return {name: 8.0 * size / n for name, size in sizes.items()}


def unigram_bits_per_byte(train_tokens: np.ndarray, test_tokens: np.ndarray, vocab_size: int, n_bytes: int) -> float:
    """Bits per byte of ``test_tokens`` under add-one smoothed unigram frequencies of ``train_tokens``.

    Add-one smoothing keeps every token id in ``[0, vocab_size)`` at a finite cost, so a test token
    never seen in training does not make the figure infinite.
    """
    if n_bytes <= 0:
        raise DataError(f"unigram_bits_per_byte: n_bytes must be > 0, got {n_bytes}")
    train = np.asarray(train_tokens, dtype=np.int64).ravel()
    test = np.asarray(test_tokens, dtype=np.int64).ravel()
    for label, arr in (("train", train), ("test", test)):
        if arr.size and (arr.min() < 0 or arr.max() >= vocab_size):
            raise DataError(f"unigram_bits_per_byte: {label} token ids outside [0, {vocab_size})")
    counts = np.bincount(train, minlength=vocab_size).astype(np.float64) + 1.0
    log_p = np.log(counts) - math.log(counts.sum())
    return bits_per_byte(-float(log_p[test].sum()), n_bytes)
