"""Fine-tuning hooks of the training loop: start from a model folder's weights, and LoRA via ``peft``.

``prepare_for_finetune(model, init_from, lora_rank, lora_alpha)`` is what ``arlm.training.loop``
calls (lazily, only when ``TrainConfig.init_from`` or ``lora_rank`` is set) right after building
the model and before a checkpoint is resumed:

* ``init_from``: the weights of an arlm model folder (sha256 checked), whose config must be the
  run's (dropout aside);
* ``lora_rank``: ``peft.inject_adapter_in_model`` replaces the GPT's attention input projections
  (``c_attn``, as peft does for GPT-2) by LoRA layers *inside the same GPT object* and freezes
  every other weight. The optimizer only sees the adapters (``requires_grad``), so the base
  tensors stay bit-identical; checkpoints hold base and adapters under peft's names
  (``...c_attn.base_layer.weight``, ``...c_attn.lora_A.default.weight``), and a resumed run injects
  the same layers before loading them.

``merge_checkpoint`` turns such a checkpoint into a plain model folder: peft's
``merge_and_unload`` folds B @ A x alpha/r into each base weight, and the result loads with
``arlm.models.load_model`` like any trained model (the registered version has no adapters).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from arlm.errors import ConfigError

LORA_TARGETS = ("c_attn",)  # peft's own default for GPT-2: the fused q/k/v projection
ADAPTER_NAME = "default"
IGNORED_FIELDS = ("dropout",)  # may differ between the base model and the fine-tuning run


def check_rank(rank: Any, alpha: Any = None) -> None:
    """A LoRA rank must be a positive integer (and alpha, if given, a positive number)."""
    if isinstance(rank, bool) or not isinstance(rank, int) or rank <= 0:
        raise ConfigError(f"LoRA rank must be a positive integer, got {rank!r}")
    if alpha is not None and (isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or alpha <= 0):
        raise ConfigError(f"LoRA alpha must be a positive number, got {alpha!r}")


def lora_config(rank: int, alpha: float | None = None):
    from peft import LoraConfig

    check_rank(rank, alpha)
    return LoraConfig(
        r=rank,
        lora_alpha=float(alpha if alpha is not None else 2 * rank),
        target_modules=list(LORA_TARGETS),
        lora_dropout=0.0,
        bias="none",
    )


def load_initial_weights(model, init_from: str | Path) -> None:
    """Load the weights of model folder ``init_from`` into ``model`` (same kind and config)."""
    from arlm.models.serialization import (
        WEIGHTS_FILE,
        load_weights,
        read_model_metadata,
    )

    folder = Path(init_from)
    meta = read_model_metadata(folder)
    if meta["kind"] != model.kind:
        raise ConfigError(f"init_from {folder}: a {meta['kind']} model, this run trains {model.kind}")
    mine = model.config.to_dict()
    # fields added to the kind after the folder was written hold their defaults there
    defaults = {f.name: f.default for f in dataclasses.fields(type(model.config))}
    theirs = {**defaults, **meta["config"]}
    diff = sorted(k for k in set(mine) | set(theirs) if k not in IGNORED_FIELDS and mine.get(k) != theirs.get(k))
    if diff:
        details = ", ".join(f"{k}: {theirs.get(k)!r} != {mine.get(k)!r}" for k in diff[:4])
        raise ConfigError(f"init_from {folder}: its config differs from this run's ({details})")
    load_weights(model, folder / WEIGHTS_FILE)


def inject_lora(model, rank: int, alpha: float | None = None):
    """LoRA layers on ``LORA_TARGETS`` inside ``model`` (in place); everything else frozen."""
    from peft import inject_adapter_in_model

    inject_adapter_in_model(lora_config(rank, alpha), model, adapter_name=ADAPTER_NAME)
    for name, p in model.named_parameters():  # peft freezes the rest; say so explicitly
        p.requires_grad_(".lora_" in name)
    return model


def prepare_for_finetune(model, init_from: str | Path | None, lora_rank: int | None, lora_alpha: float | None = None):
    """The training loop's hook: initial weights, then adapters; returns the same model object."""
    if init_from is not None:
        load_initial_weights(model, init_from)
    if lora_rank is not None:
        inject_lora(model, lora_rank, lora_alpha)
    return model


def trainable_counts(model) -> tuple[int, int]:
    """(trainable parameters, all parameters), shared tensors counted once."""
    seen: set[int] = set()
    trainable = total = 0
    for p in model.parameters():
        if id(p) in seen:
            continue
        seen.add(id(p))
        total += p.numel()
        trainable += p.numel() if p.requires_grad else 0
    return trainable, total


def merge_lora(model, rank: int, alpha: float | None = None):
    """A plain model from a freshly built one whose weights are to be loaded into LoRA layers:
    returns (model with adapters injected, merge function). ``merge()`` folds the adapters into
    the base weights with peft's ``merge_and_unload`` and returns the plain model."""
    from peft.tuners.lora import LoraModel

    tuner = LoraModel(model, lora_config(rank, alpha), ADAPTER_NAME)
    return tuner.model, tuner.merge_and_unload


def merge_checkpoint(checkpoint: str | Path, out_dir: str | Path) -> Path:
    """A LoRA checkpoint (train_state.json says its rank) -> a plain model folder ``out_dir``.
    A checkpoint without adapters is copied as it is."""
    import shutil

    from arlm.models.serialization import (
        CONFIG_FILE,
        WEIGHTS_FILE,
        config_from_metadata,
        load_weights,
        read_model_metadata,
        save_model,
    )
    from arlm.training.checkpoint import saved_train_config

    checkpoint, out_dir = Path(checkpoint), Path(out_dir)
    train_cfg = saved_train_config(checkpoint)
    rank = train_cfg.get("lora_rank")
    out_dir.mkdir(parents=True, exist_ok=True)
    if not rank:
        for name in (WEIGHTS_FILE, CONFIG_FILE):
            shutil.copy2(checkpoint / name, out_dir / name)
        return out_dir
    cls, config = config_from_metadata(read_model_metadata(checkpoint), str(checkpoint / CONFIG_FILE))
    model = cls(config)
    injected, merge = merge_lora(model, int(rank), train_cfg.get("lora_alpha"))
    load_weights(injected, checkpoint / WEIGHTS_FILE)
    merged = merge()
    save_model(merged.eval(), out_dir)
    return out_dir
