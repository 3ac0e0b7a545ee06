"""The model family behind one interface (``arlm.models.base.LanguageModel``).

    build_model("gpt/baby", vocab_size, block_size)   a fresh model of a kind and preset
    list_kinds(), list_presets(kind)                  what can be asked for
    save_model(model, dir), load_model(dir)           model.safetensors + model_config.json

Kinds: ngram (Kneser-Ney), rnn, lstm, gru, lstm-attn, gpt. Importing this package imports torch
only; each kind's module is imported when first built.
"""

from arlm.models.base import LanguageModel, ModelConfig
from arlm.models.registry import build_model, list_kinds, list_presets, parse_spec, resolve_config
from arlm.models.serialization import load_model, read_model_metadata, save_model

__all__ = [
    "LanguageModel",
    "ModelConfig",
    "build_model",
    "list_kinds",
    "list_presets",
    "parse_spec",
    "resolve_config",
    "save_model",
    "load_model",
    "read_model_metadata",
]
