"""The one definition of bits per byte (no torch: the unigram baseline and the catalog use it too)."""

from __future__ import annotations

import math

from arlm.errors import DataError


def bits_per_byte(total_nats: float, n_bytes: int) -> float:
    """THE bits-per-byte figure: total nats of the scored tokens / ln 2 / the UTF-8 bytes those
    tokens cover. Every bits-per-byte arlm reports (training's validation figure, ``evaluate_stage``,
    ``evaluate_text``, the champion gate) is this function of a nats total and a byte count.

    Token datasets put one end-of-text token after each document: its prediction's nats are counted
    (the model must say where a document ends) and it covers no byte."""
    if n_bytes <= 0:
        raise DataError(f"bits per byte: the byte count must be > 0, got {n_bytes}")
    return total_nats / n_bytes / math.log(2)
