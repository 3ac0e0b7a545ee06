"""Decoding for every model kind: greedy, sampling (temperature, top-k, top-p), beam search.

Only torch is needed for ``generate`` (token ids in, token ids out); ``TextGenerator`` adds the HF
``tokenizers`` library for text in, text out (imported when used).
"""

from arlm.generation.config import GenerationConfig
from arlm.generation.decode import PromptTruncatedWarning, generate

__all__ = ["GenerationConfig", "generate", "PromptTruncatedWarning", "TextGenerator"]


def __getattr__(name: str):
    if name == "TextGenerator":
        from arlm.generation.text import TextGenerator

        return TextGenerator
    raise AttributeError(name)
