"""The model folder: ``model.safetensors`` + ``model_config.json`` (``{"kind", "config"}``).

Safetensors, not pickles: loading a model never runs code from the file. Tied weights (the GPT's
embedding and head) are stored once and re-tied by the model's constructor on load.
"""

from __future__ import annotations

import dataclasses
import json
import os
import uuid
from pathlib import Path

import torch

from arlm.errors import ConfigError, DataError, NotFoundError
from arlm.models.base import LanguageModel
from arlm.versioning import TMP_MARK, atomic_write_json

WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "model_config.json"
FORMAT_VERSION = 1


def unwrap(model: torch.nn.Module) -> LanguageModel:
    """The LanguageModel inside DDP (``.module``) and ``torch.compile`` (``._orig_mod``) wrappers."""
    while True:
        if hasattr(model, "_orig_mod"):
            model = model._orig_mod
        elif isinstance(model, torch.nn.parallel.DistributedDataParallel):
            model = model.module
        else:
            return model


def model_metadata(model: LanguageModel) -> dict:
    return {"kind": model.kind, "config": model.config.to_dict(), "format": FORMAT_VERSION}


def save_model(model: torch.nn.Module, directory: str | os.PathLike) -> Path:
    """Write the weights and config into ``directory`` (created); each file replaced atomically."""
    from safetensors.torch import save_model as st_save_model

    model = unwrap(model)
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    tmp = directory / f"{WEIGHTS_FILE}{TMP_MARK}{uuid.uuid4().hex[:8]}"
    try:
        st_save_model(model, str(tmp), metadata={"kind": model.kind})
        os.replace(tmp, directory / WEIGHTS_FILE)
    finally:
        tmp.unlink(missing_ok=True)
    atomic_write_json(directory / CONFIG_FILE, model_metadata(model))
    return directory


def read_model_metadata(directory: str | os.PathLike) -> dict:
    """``model_config.json`` of a model folder, checked for the fields a loader needs."""
    path = Path(directory) / CONFIG_FILE
    if not path.is_file():
        raise NotFoundError(f"{path}: no model config (is {directory} a model folder?)")
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"{path}: corrupted model config ({exc})") from exc
    if not isinstance(meta, dict) or "kind" not in meta or not isinstance(meta.get("config"), dict):
        raise DataError(f"{path}: model config must hold 'kind' and 'config'")
    return meta


def config_from_metadata(meta: dict, where: str = "model config"):
    """(class, config) of a model folder's metadata, without weights."""
    from arlm.models.registry import model_class

    try:
        cls = model_class(meta["kind"])
    except ConfigError as exc:
        raise DataError(f"{where}: {exc}") from exc
    known = {f.name for f in dataclasses.fields(cls.config_class)}
    unknown = sorted(set(meta["config"]) - known)
    if unknown:
        raise DataError(f"{where}: unknown {meta['kind']} config field(s) {', '.join(unknown)} "
                        "(written by a newer arlm?)")
    try:
        return cls, cls.config_class(**meta["config"])
    except (TypeError, ConfigError) as exc:
        raise DataError(f"{where}: invalid {meta['kind']} config: {exc}") from exc


def load_weights(model: LanguageModel, path: Path) -> None:
    """Load ``model.safetensors`` into ``model`` strictly; a damaged file is a DataError."""
    from safetensors import SafetensorError
    from safetensors.torch import load_model as st_load_model

    if not path.is_file():
        raise NotFoundError(f"{path}: weights file missing")
    try:
        missing, unexpected = st_load_model(model, str(path), strict=False, device="cpu")
    except (SafetensorError, OSError, RuntimeError, ValueError) as exc:
        raise DataError(f"{path}: corrupted or incompatible weights ({exc})") from exc
    if missing or unexpected:
        raise DataError(f"{path}: weights do not match the {model.kind} config "
                        f"(missing {sorted(missing)[:5]}, unexpected {sorted(unexpected)[:5]})")


def load_model(directory: str | os.PathLike, device: str | torch.device = "cpu") -> LanguageModel:
    """The model saved in ``directory`` by ``save_model``, in eval mode on ``device``."""
    directory = Path(directory)
    meta = read_model_metadata(directory)
    cls, config = config_from_metadata(meta, str(directory / CONFIG_FILE))
    model = cls(config)
    load_weights(model, directory / WEIGHTS_FILE)
    return model.to(device).eval()
