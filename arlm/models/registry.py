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


def model_class(kind: str, kinds: dict[str, str] | None = None) -> type[LanguageModel]:
    """The class of ``kind``, looked up in ``kinds`` ("module:Class" by kind; default: the
    decoder-only family ``KINDS``; ``arlm.models.seq2seq`` passes its own table)."""
    kinds = KINDS if kinds is None else kinds
    _check_kind(kind, kinds)
    module, name = kinds[kind].split(":")
    return getattr(importlib.import_module(module), name)


def parse_spec(
    spec: str, kinds: dict[str, str] | None = None, presets: dict[str, dict[str, dict[str, Any]]] | None = None
) -> tuple[str, str]:
    """``"gpt/baby"`` -> ("gpt", "baby"); ``"lstm"`` -> ("lstm", "tiny"). Validates both against
    ``kinds``/``presets`` (default: the decoder-only family's ``KINDS``/``PRESETS``)."""
    kinds = KINDS if kinds is None else kinds
    presets = PRESETS if presets is None else presets
    if not isinstance(spec, str) or not spec.strip():
        raise ConfigError(f"model spec must be KIND[/PRESET], got {spec!r}; kinds: {', '.join(kinds)}")
    kind, slash, preset = spec.strip().partition("/")
    if not kind:
        raise ConfigError(f"model spec {spec!r} has no kind: give KIND[/PRESET]; kinds: {', '.join(kinds)}")
    _check_kind(kind, kinds)
    if slash and not preset:
        raise ConfigError(
            f"model spec {spec!r} has an empty preset: give {kind}/PRESET with PRESET one "
            f"of {', '.join(presets[kind])}, or {kind} alone for {kind}/{DEFAULT_PRESET}"
        )
    preset = preset or DEFAULT_PRESET
    if preset not in presets[kind]:
        raise ConfigError(
            f"unknown preset {preset!r} for model kind {kind!r} (spec {spec!r}); "
            f"valid presets: {', '.join(presets[kind])}"
        )
    return kind, preset


def resolve_config(
    spec: str,
    vocab_size: int,
    block_size: int | None = None,
    *,
    kinds: dict[str, str] | None = None,
    presets: dict[str, dict[str, dict[str, Any]]] | None = None,
    **overrides: Any,
) -> tuple[type[LanguageModel], ModelConfig]:
    """The class and validated config a spec names, without allocating weights (cheap: used by
    ``TrainConfig.validate`` to reject bad model settings before any worker starts).
    ``kinds``/``presets`` default to the decoder-only family (see ``parse_spec``)."""
    kind, preset = parse_spec(spec, kinds, presets)
    cls = model_class(kind, kinds)
    fields = {f.name for f in dataclasses.fields(cls.config_class)}
    unknown = sorted(set(overrides) - fields)
    if unknown:
        raise ConfigError(f"model {kind}: unknown option(s) {', '.join(unknown)}; valid: {', '.join(sorted(fields))}")
    values = dict((PRESETS if presets is None else presets)[kind][preset])
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


def build_model(spec: str, vocab_size: int, block_size: int | None = None, **overrides: Any) -> LanguageModel:
    """A freshly initialised model: ``spec`` is ``KIND[/PRESET]``, ``block_size`` None keeps the
    preset's context, ``overrides`` replace any config field (``dropout=0.0``, ``positions="rope"``)."""
    cls, config = resolve_config(spec, vocab_size, block_size, **overrides)
    return cls(config)


def _check_kind(kind: str, kinds: dict[str, str] | None = None) -> None:
    kinds = KINDS if kinds is None else kinds
    if kind not in kinds:
        raise ConfigError(f"unknown model kind {kind!r}; valid kinds: {', '.join(kinds)}")


def preset_table(vocab_size: int = 4096) -> list[dict[str, Any]]:
    """Every kind/preset with its size at ``vocab_size``: parameters and forward FLOPs per token
    (weights are allocated on the ``meta`` device: nothing is computed or stored)."""
    import torch

    rows = []
    for kind in list_kinds():
        for preset in list_presets(kind):
            cls, cfg = resolve_config(f"{kind}/{preset}", vocab_size)
            with torch.device("meta"):
                model = cls(cfg)
            trained = cls.trainable  # an n-gram is counted, not trained: its size is its table's
            rows.append(
                {
                    "model": f"{kind}/{preset}",
                    "params": model.num_params() if trained else None,
                    "flops_per_token": float(model.flops_per_token()) if trained else None,
                    "block_size": cfg.block_size,
                    "config": dict(PRESETS[kind][preset]),
                }
            )
    return rows
