"""Evaluation: how good a model is, on a scale that compares models with different tokenizers.

The headline number is **bits per byte**: the model's total negative log-likelihood of a text (in
nats, summed over every predicted token) divided by the UTF-8 byte count of that text and by ln 2.
Unlike per-token loss it does not reward a tokenizer for cutting text into more or fewer pieces
(the convention of Paloma and Marin), and it sits on the same scale as general-purpose compressors,
whose bits per byte are printed beside it as baselines.

Exports are imported on first use (``arlm.evaluation.checks`` must not pull in torch: the catalog
imports it).
"""

from __future__ import annotations

from arlm.lazy import lazy_getattr

_EXPORTS = {
    "evaluate_tokens": "arlm.evaluation.metrics",
    "compression_baselines": "arlm.evaluation.baselines",
    "unigram_bits_per_byte": "arlm.evaluation.baselines",
    "check_finite_metrics": "arlm.evaluation.checks",
}

__all__ = sorted(_EXPORTS)


__getattr__ = lazy_getattr(__name__, _EXPORTS)
