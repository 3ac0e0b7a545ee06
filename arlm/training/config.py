"""``TrainConfig``: everything one training run needs besides its data and output folder.

A frozen dataclass so a config is hashable into a run id and can be shipped to Ray workers as is.
``validate()`` rejects configs that cannot work (bad model options, negative rates, no budget, a
context longer than the data) before any worker starts, each with a one-line message naming the
option.
"""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from arlm.errors import ConfigError
from arlm.options import opt

DTYPES = ("auto", "float32", "bfloat16")
DEVICES = ("auto", "cpu", "cuda")
OPTIMIZERS = ("adamw", "muon")  # see arlm.training.optim


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters and budgets of one run: the one declaration of every training setting.

    Each field's default and one-line help (``opt``) is what ``arlm pipeline/train/compare --help``
    and the Prefect flow forms show: both are generated from these fields (``arlm.options``), and
    ``--config FILE.yaml`` / ``--set NAME=VALUE`` set any of them.

    model: ``KIND[/PRESET]`` (see ``arlm.models.list_kinds``); ``model_overrides`` replaces config
    fields of the preset (``{"dropout": 0.0}``).
    batch_size: sequences per optimizer step, the GLOBAL batch: split evenly across data-parallel
    ranks and then into ``grad_accum`` micro-batches (so it must divide by ranks x grad_accum).
    block_size: context length; None keeps the preset's.
    Budgets: training stops at the first reached of ``max_steps`` (optimizer steps),
    ``max_tokens`` (global tokens) and ``max_seconds`` (wall time of the training loop, summed over
    restarts); at least one must be set. A step or token budget makes the run deterministic; a
    time budget alone does not (how far it gets depends on the machine's load).
    Learning rate (``arlm.training.schedule``): linear warm-up to ``lr`` then cosine decay to
    ``min_lr`` at the end of the budget. The warm-up lasts ``warmup_steps`` steps but never more
    than ``warmup_fraction`` of the budget. Under a step/token budget (even with a ``max_seconds``
    cap) the rate is a function of the step alone; under a time budget alone, warm-up ends at the
    first of ``warmup_steps`` steps and ``warmup_fraction`` of ``max_seconds``, and the cosine
    follows the fraction of time used over the rest.
    eval_interval: evaluate ``eval_batches`` validation batches every so many steps (and at the
    end); ``early_stop_patience`` evaluations in a row without a new best (lower by more than
    ``early_stop_min_delta``) stop the run (None: never).
    checkpoint_interval: write ``checkpoints/latest`` every so many steps (and at the end);
    ``checkpoint_seconds`` also writes it when that many seconds of training passed since the
    last one (None: steps only), so a short or slow run has one to resume from;
    ``checkpoints/best`` is written whenever validation improves.
    eval_full: evaluate on the WHOLE validation split instead (every token scored exactly once,
    non-overlapping windows dealt out to the ranks; exact, and cheap on a GPU for small splits).
    device: "auto" (cuda when available), "cpu", "cuda". dtype: "auto" (bfloat16 autocast on
    CUDA, float32 elsewhere), "float32", "bfloat16" (autocast; works on CPU too).
    compile: "auto" (torch.compile on CUDA only), True, False; ``compile_backend`` is passed to
    torch.compile ("inductor"; "aot_eager" traces without generating code, for machines without
    a compiler and for tests).
    log_interval: steps between train-loss readings (the only host-device syncs of the loop).
    optimizer: "adamw", or "muon" (orthogonalised momentum for the hidden matrices, AdamW for the
    rest; see ``arlm.training.optim``): ``muon_momentum`` its momentum, ``muon_lr_ratio`` its
    learning rate as a multiple of ``lr`` (the schedule applies to both). The default, Muon,
    measured better than AdamW on the embedded default (benchmarks/RESULTS.md).
    """

    model: str = opt("gpt/tiny", "Model KIND[/PRESET] (`arlm models presets` lists them).")
    model_overrides: dict[str, Any] = opt(
        dict, 'Model config fields replacing the preset\'s, e.g. {"n_layer": 6, "dropout": 0.1}.'
    )
    batch_size: int = opt(32, "Global batch in sequences per optimizer step (split over workers x grad_accum).")
    block_size: int | None = opt(None, "Context length in tokens (None: the preset's).")
    lr: float = opt(
        2e-3,
        "Peak learning rate (warm-up to it, then cosine decay to min_lr). 2e-3 with Muon reached "
        "1.657 test bits/byte against 1.734 at 1e-3 on the embedded default (benchmarks/RESULTS.md).",
    )
    min_lr: float = opt(1e-4, "Learning rate at the end of the budget (cosine decay).")
    warmup_steps: int = opt(100, "Linear warm-up steps (capped by warmup_fraction of the budget).")
    warmup_fraction: float | None = opt(0.05, "Warm-up is at most this share of the budget (None: no cap).")
    weight_decay: float = opt(0.1, "AdamW weight decay of the matrices (not of biases, norms or embeddings' rows).")
    betas: tuple[float, float] = opt((0.9, 0.95), "AdamW betas.")
    grad_clip: float | None = opt(1.0, "Clip the global gradient norm to this (None: no clipping).")
    grad_accum: int = opt(1, "Micro-batches per optimizer step (per worker).")
    max_steps: int | None = opt(
        1000,
        "Step budget: the same parameters give the same model bit for bit. None: max_tokens / max_seconds "
        "alone. 1000 steps of gpt/tiny fit the embedded default (benchmarks/RESULTS.md).",
    )
    max_tokens: int | None = opt(None, "Token budget (global tokens); the first budget reached ends the run.")
    max_seconds: float | None = opt(
        None,
        "Wall-time cap of the training loop in seconds (summed over restarts); a run it stops says "
        "stopped_by max_seconds and is no longer reproducible.",
    )
    eval_interval: int = opt(250, "Evaluate the validation split every so many steps (and at the end).")
    eval_batches: int = opt(20, "Validation batches per evaluation.")
    eval_full: bool = opt(False, "Evaluate on the whole validation split (every token once) instead.")
    early_stop_patience: int | None = opt(None, "Stop after this many evaluations without a new best (None: never).")
    early_stop_min_delta: float = opt(0.0, "A new best must be lower by more than this.")
    checkpoint_interval: int = opt(500, "Write checkpoints/latest every so many steps (and at the end).")
    checkpoint_seconds: float | None = opt(
        60.0, "Also write checkpoints/latest after this many seconds of training (None: steps only)."
    )
    seed: int = opt(0, "Seed of initialisation, data order and dropout.")
    device: str = opt("auto", "auto (cuda when available), cpu or cuda.", choices=DEVICES)
    dtype: str = opt(
        "auto", "auto (bfloat16 autocast on CUDA, float32 elsewhere), float32 or bfloat16.", choices=DTYPES
    )
    compile: bool | str = opt("auto", "torch.compile the model: auto (on CUDA only), true or false.")
    compile_backend: str = opt("inductor", "torch.compile backend (aot_eager: no code generation).")
    log_interval: int = opt(10, "Steps between train-loss readings (the loop's only host-device syncs).")
    optimizer: str = opt(
        "muon",
        "muon: orthogonalised momentum for the attention/MLP matrices and AdamW for "
        "the rest (measured better on the embedded default), or adamw for everything.",
        choices=OPTIMIZERS,
    )
    muon_momentum: float = opt(0.95, "Muon's momentum.")
    muon_lr_ratio: float = opt(1.0, "Muon's learning rate as a multiple of lr.")
    # fine-tuning (arlm.hf.adapters): start from a model folder's weights, optionally train LoRA adapters only
    init_from: str | None = opt(
        None,
        "Start from the weights of this arlm model folder (same model config) "
        "instead of a random initialisation (fine-tuning).",
    )
    lora_rank: int | None = opt(
        None,
        "Train only LoRA adapters of this rank (peft) on the frozen init_from "
        "model; merged into the weights when registered. None: train every weight.",
    )
    lora_alpha: float | None = opt(None, "LoRA scale numerator (adapters scaled by alpha/rank); None: 2 x lora_rank.")

    def __hash__(self) -> int:  # model_overrides is a dict: hash the canonical form
        from arlm.versioning import canonical_json

        return hash(canonical_json(self.to_dict()))

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["betas"] = list(self.betas)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ConfigError(f"train config: unknown option(s) {', '.join(unknown)}")
        d = dict(d)
        if "betas" in d:
            d["betas"] = tuple(d["betas"])
        return cls(**d)

    def replace(self, **changes: Any) -> TrainConfig:
        return dataclasses.replace(self, **changes)

    @property
    def kind(self) -> str:
        from arlm.models.registry import parse_spec
        from arlm.models.seq2seq import SEQ2SEQ_KINDS, SEQ2SEQ_PRESETS

        if self.is_seq2seq:
            return parse_spec(self.model, SEQ2SEQ_KINDS, SEQ2SEQ_PRESETS)[0]
        return parse_spec(self.model)[0]

    @property
    def is_seq2seq(self) -> bool:
        """True for the encoder-decoder kinds (trained on a pair token dataset)."""
        from arlm.models.seq2seq import is_seq2seq_kind

        return isinstance(self.model, str) and is_seq2seq_kind(self.model.strip().partition("/")[0])

    # -- validation --------------------------------------------------------------------------
    def validate(self, token_dataset_path: str | os.PathLike | None = None, world_size: int = 1) -> TrainConfig:
        """Raise ``ConfigError`` for a config that cannot work; returns self.

        With ``token_dataset_path`` it also checks the model against the data (vocabulary size,
        a context that fits in the train and validation splits)."""
        self._check_numbers(world_size)
        vocab_size, data = 256, None
        if token_dataset_path is not None:
            from arlm.training.sampler import longest_shard, open_token_data

            data = open_token_data(token_dataset_path)
            vocab_size = data.vocab_size
        model_cls, model_cfg = self.model_config(vocab_size, data)
        if self.is_seq2seq:
            return self
        if token_dataset_path is not None and model_cls.trainable:
            for split in ("train", "val"):
                longest = longest_shard(data, split)
                if longest <= model_cfg.block_size:
                    raise ConfigError(
                        f"train config: block_size {model_cfg.block_size} needs more tokens than the "
                        f"{split!r} split of {token_dataset_path} has in one shard ({longest}); "
                        "use a smaller --block-size or more data"
                    )
        return self

    def model_config(self, vocab_size: int, data: Any = None):
        """(model class, validated model config) for a vocabulary; no weights are allocated.

        ``data`` (the token dataset, when known) must suit the kind: a seq2seq kind trains on a
        pair token dataset, whose source vocabulary and special ids go into the model config; a
        language model on a token dataset."""
        from arlm.models.registry import resolve_config

        if not isinstance(self.model_overrides, dict):
            raise ConfigError("train config: model_overrides must be a dict of model config fields")
        pairs = data is not None and data.manifest.get("task") == "translation"
        if not self.is_seq2seq:
            if pairs:
                raise ConfigError(
                    f"train config: model {self.model!r} is a language model, but {data.path} holds sentence "
                    "pairs: give a translation kind (transformer-seq2seq, lstm-attn-seq2seq)"
                )
            return resolve_config(self.model, vocab_size, self.block_size, **self.model_overrides)
        from arlm.models.seq2seq import resolve_seq2seq_config

        if data is not None and not pairs:
            raise ConfigError(
                f"train config: model {self.model!r} is a translation (seq2seq) model, but {data.path} is a "
                "language-model token dataset: train it on sentence pairs (arlm pipeline --task translation)"
            )
        fields: dict[str, Any] = {}
        if pairs:
            fields = {
                "src_vocab_size": 0 if data.joint else data.src_vocab_size,
                "pad_id": data.pad_id,
                "bos_id": data.bos_id,
                "eos_id": data.eos_id,
            }
        return resolve_seq2seq_config(self.model, vocab_size, self.block_size, **{**fields, **self.model_overrides})

    def _check_numbers(self, world_size: int) -> None:
        def positive(name: str, value: Any, integer: bool = True) -> None:
            ok = isinstance(value, int) if integer else isinstance(value, (int, float))
            if not ok or isinstance(value, bool) or value <= 0 or (not integer and not math.isfinite(value)):
                raise ConfigError(
                    f"train config: {name} must be a positive {'integer' if integer else 'number'}, got {value!r}"
                )

        for name in (
            "batch_size",
            "grad_accum",
            "eval_interval",
            "eval_batches",
            "checkpoint_interval",
            "log_interval",
        ):
            positive(name, getattr(self, name))
        if self.block_size is not None:
            positive("block_size", self.block_size)
        positive("lr", self.lr, integer=False)
        if not isinstance(self.min_lr, (int, float)) or not 0 <= self.min_lr <= self.lr:
            raise ConfigError(f"train config: min_lr must be in [0, lr={self.lr}], got {self.min_lr!r}")
        if not isinstance(self.warmup_steps, int) or self.warmup_steps < 0:
            raise ConfigError(f"train config: warmup_steps must be >= 0, got {self.warmup_steps!r}")
        if self.warmup_fraction is not None and (
            not isinstance(self.warmup_fraction, (int, float))
            or isinstance(self.warmup_fraction, bool)
            or not 0 <= self.warmup_fraction < 1
        ):
            raise ConfigError(f"train config: warmup_fraction must be in [0, 1) or None, got {self.warmup_fraction!r}")
        if self.checkpoint_seconds is not None:
            positive("checkpoint_seconds", self.checkpoint_seconds, integer=False)
        if not isinstance(self.weight_decay, (int, float)) or self.weight_decay < 0:
            raise ConfigError(f"train config: weight_decay must be >= 0, got {self.weight_decay!r}")
        if len(self.betas) != 2 or not all(0 <= b < 1 for b in self.betas):
            raise ConfigError(f"train config: betas must be two numbers in [0, 1), got {self.betas!r}")
        if self.grad_clip is not None:
            positive("grad_clip", self.grad_clip, integer=False)
        if self.early_stop_patience is not None:
            positive("early_stop_patience", self.early_stop_patience)
        if not isinstance(self.early_stop_min_delta, (int, float)) or self.early_stop_min_delta < 0:
            raise ConfigError(f"train config: early_stop_min_delta must be >= 0, got {self.early_stop_min_delta!r}")
        budgets = {"max_steps": self.max_steps, "max_tokens": self.max_tokens, "max_seconds": self.max_seconds}
        if all(v is None for v in budgets.values()):
            raise ConfigError("train config: set a budget: max_steps, max_tokens or max_seconds")
        for name, value in budgets.items():
            if value is not None:
                positive(name, value, integer=name != "max_seconds")
        if self.device not in DEVICES:
            raise ConfigError(f"train config: device must be one of {DEVICES}, got {self.device!r}")
        if self.dtype not in DTYPES:
            raise ConfigError(f"train config: dtype must be one of {DTYPES}, got {self.dtype!r}")
        if self.compile not in ("auto", True, False):
            raise ConfigError(f"train config: compile must be 'auto', true or false, got {self.compile!r}")
        if not isinstance(self.compile_backend, str) or not self.compile_backend:
            raise ConfigError(
                f"train config: compile_backend must be a torch.compile backend name, got {self.compile_backend!r}"
            )
        if self.optimizer not in OPTIMIZERS:
            raise ConfigError(f"train config: optimizer must be one of {OPTIMIZERS}, got {self.optimizer!r}")
        if not isinstance(self.muon_momentum, (int, float)) or not 0 <= self.muon_momentum < 1:
            raise ConfigError(f"train config: muon_momentum must be in [0, 1), got {self.muon_momentum!r}")
        positive("muon_lr_ratio", self.muon_lr_ratio, integer=False)
        if self.lora_rank is not None:
            positive("lora_rank", self.lora_rank)
            if self.init_from is None:
                raise ConfigError("train config: lora_rank needs init_from (LoRA adapts a trained model)")
        if self.lora_alpha is not None:
            positive("lora_alpha", self.lora_alpha, integer=False)
        if not isinstance(self.seed, int):
            raise ConfigError(f"train config: seed must be an integer, got {self.seed!r}")
        if self.batch_size % (world_size * self.grad_accum):
            raise ConfigError(
                f"train config: batch_size {self.batch_size} must be divisible by "
                f"workers x grad_accum = {world_size} x {self.grad_accum}"
            )

    # -- derived -----------------------------------------------------------------------------
    def tokens_per_step(self, block_size: int) -> int:
        return self.batch_size * block_size

    def total_steps(self, block_size: int) -> int | None:
        """Steps the step/token budgets allow (None under a time budget alone)."""
        limits = []
        if self.max_steps is not None:
            limits.append(self.max_steps)
        if self.max_tokens is not None:
            limits.append(max(1, math.ceil(self.max_tokens / self.tokens_per_step(block_size))))
        return min(limits) if limits else None


def resolve_device(cfg: TrainConfig):
    import torch

    if cfg.device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if cfg.device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("train config: device 'cuda' asked for but no CUDA device is available")
    return torch.device(cfg.device)


def resolve_dtype(cfg: TrainConfig, device) -> Any:
    """The autocast dtype, or None for plain float32."""
    import torch

    if cfg.dtype == "bfloat16" or (cfg.dtype == "auto" and device.type == "cuda"):
        return torch.bfloat16
    return None


def resolve_compile(cfg: TrainConfig, device) -> bool:
    return device.type == "cuda" if cfg.compile == "auto" else bool(cfg.compile)


def as_path(p: str | os.PathLike) -> Path:
    return Path(p).expanduser().resolve()
