"""Decoding for every model kind: greedy, sampling (temperature, top-k, top-p), beam search.

Only torch is needed; tokenizers stay outside (pass ``decode`` for stop strings).
"""

from arlm.generation.config import GenerationConfig
from arlm.generation.decode import generate

__all__ = ["GenerationConfig", "generate"]
