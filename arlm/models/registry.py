"""Model kinds and their named sizes: ``build_model("gpt/baby", vocab_size, block_size)``.

A spec is ``KIND[/PRESET]``; without a preset the kind's ``tiny`` is used (a model that trains in
minutes on a laptop CPU, the pipeline default). Presets are plain dicts of config fields, so any
field can still be overridden by keyword. Kinds are imported lazily: asking for the n-gram does not
import the Transformer.
"""

from __future__ import annotations

import dataclasses
import importlib
from typing import Any

from arlm.errors import ConfigError
from arlm.models.base import LanguageModel, ModelConfig

# kind -> "module:Class"
KINDS: dict[str, str] = {
    "ngram": "arlm.models.ngram:NGramLM",
    "rnn": "arlm.models.recurrent:RNNLM",
    "lstm": "arlm.models.recurrent:LSTMLM",
    "gru": "arlm.models.recurrent:GRULM",
    "lstm-attn": "arlm.models.lstm_attn:LSTMAttentionLM",
    "gpt": "arlm.models.gpt:GPT",
}

DEFAULT_PRESET = "tiny"

_RECURRENT_PRESETS: dict[str, dict[str, Any]] = {
    # hidden == embedding size so the head is tied to the embedding
    "tiny": dict(n_embd=192, hidden_size=192, n_layer=2, dropout=0.1, block_size=128),
    "small": dict(n_embd=384, hidden_size=384, n_layer=2, dropout=0.2, block_size=256),
    "medium": dict(n_embd=768, hidden_size=768, n_layer=3, dropout=0.25, block_size=256),
}

PRESETS: dict[str, dict[str, dict[str, Any]]] = {
    "ngram": {
        "tiny": dict(order=3),
        "bigram": dict(order=2),
        "trigram": dict(order=3),
        "4gram": dict(order=4),
        "5gram": dict(order=5),
    },
    "rnn": _RECURRENT_PRESETS,
    "lstm": _RECURRENT_PRESETS,
    "gru": _RECURRENT_PRESETS,
    "lstm-attn": {
        "tiny": dict(n_embd=192, hidden_size=192, n_layer=1, n_head=4, dropout=0.1, block_size=128),
        "small": dict(n_embd=384, hidden_size=384, n_layer=2, n_head=6, dropout=0.2, block_size=256),
    },
    "gpt": {
        # ~1M parameters at a 4k vocabulary: trains in minutes on 2 CPU cores
        "tiny": dict(n_layer=4, n_head=4, n_embd=128, block_size=128, dropout=0.0),
        "small": dict(n_layer=6, n_head=8, n_embd=256, block_size=256, dropout=0.1),
        # nanoGPT's "baby GPT" of shakespeare_char
        "baby": dict(n_layer=6, n_head=6, n_embd=384, block_size=256, dropout=0.2, bias=False),
        # GPT-2 small, 124M (vocabulary padded 50257 -> 50304 by vocab_multiple)
        "gpt2": dict(n_layer=12, n_head=12, n_embd=768, block_size=1024, dropout=0.0, bias=True),
    },
}


def list_kinds() -> list[str]:
    return list(KINDS)


def list_presets(kind: str) -> list[str]:
    _check_kind(kind)
    return list(PRESETS[kind])


def model_class(kind: str) -> type[LanguageModel]:
    _check_kind(kind)
    module, name = KINDS[kind].split(":")
    return getattr(importlib.import_module(module), name)


def parse_spec(spec: str) -> tuple[str, str]:
    """``"gpt/baby"`` -> ("gpt", "baby"); ``"lstm"`` -> ("lstm", "tiny"). Validates both."""
    if not isinstance(spec, str) or not spec.strip():
        raise ConfigError(f"model spec must be KIND[/PRESET], got {spec!r}; kinds: {', '.join(KINDS)}")
    kind, slash, preset = spec.strip().partition("/")
    if not kind:
        raise ConfigError(f"model spec {spec!r} has no kind: give KIND[/PRESET]; kinds: {', '.join(KINDS)}")
    _check_kind(kind)
    if slash and not preset:
        raise ConfigError(f"model spec {spec!r} has an empty preset: give {kind}/PRESET with PRESET one "
                          f"of {', '.join(PRESETS[kind])}, or {kind} alone for {kind}/{DEFAULT_PRESET}")
    preset = preset or DEFAULT_PRESET
    if preset not in PRESETS[kind]:
        raise ConfigError(f"unknown preset {preset!r} for model kind {kind!r} (spec {spec!r}); "
                          f"valid presets: {', '.join(PRESETS[kind])}")
    return kind, preset


def resolve_config(spec: str, vocab_size: int, block_size: int | None = None,
                   **overrides: Any) -> tuple[type[LanguageModel], ModelConfig]:
    """The class and validated config a spec names, without allocating weights (cheap: used by
    ``TrainConfig.validate`` to reject bad model settings before any worker starts)."""
    kind, preset = parse_spec(spec)
    cls = model_class(kind)
    fields = {f.name for f in dataclasses.fields(cls.config_class)}
    unknown = sorted(set(overrides) - fields)
    if unknown:
        raise ConfigError(f"model {kind}: unknown option(s) {', '.join(unknown)}; "
                          f"valid: {', '.join(sorted(fields))}")
    values = dict(PRESETS[kind][preset])
    values.update(overrides)
    values["vocab_size"] = vocab_size
    if block_size is not None:
        values["block_size"] = block_size
    values = {k: v for k, v in values.items() if k in fields}
    try:
        config = cls.config_class(**values)
    except TypeError as exc:  # a wrongly typed value that the dataclass cannot take
        raise ConfigError(f"model {kind}: invalid options {overrides}: {exc}") from exc
    return cls, config


def build_model(spec: str, vocab_size: int, block_size: int | None = None,
                **overrides: Any) -> LanguageModel:
    """A freshly initialised model: ``spec`` is ``KIND[/PRESET]``, ``block_size`` None keeps the
    preset's context, ``overrides`` replace any config field (``dropout=0.0``, ``positions="rope"``)."""
    cls, config = resolve_config(spec, vocab_size, block_size, **overrides)
    return cls(config)


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ConfigError(f"unknown model kind {kind!r}; valid kinds: {', '.join(KINDS)}")
