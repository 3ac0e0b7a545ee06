"""Evaluation: how good a model is, on a scale that compares models with different tokenizers.

The headline number is **bits per byte**: the model's total negative log-likelihood of a text (in
nats, summed over every predicted token) divided by the UTF-8 byte count of that text and by ln 2.
Unlike per-token loss it does not reward a tokenizer for cutting text into more or fewer pieces
(the convention of Paloma and Marin), and it sits on the same scale as general-purpose compressors,
whose bits per byte are printed beside it as baselines.
"""

from arlm.evaluation.baselines import compression_baselines, unigram_bits_per_byte
from arlm.evaluation.metrics import evaluate_tokens

__all__ = ["evaluate_tokens", "compression_baselines", "unigram_bits_per_byte"]
