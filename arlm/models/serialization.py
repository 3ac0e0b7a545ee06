"""The model folder: ``model.safetensors`` + ``model_config.json`` (``{"kind", "config",
"weights_sha256"}``).

Safetensors, not pickles: loading a model never runs code from the file. Tied weights (the GPT's
embedding and head) are stored once and re-tied by the model's constructor on load.

Integrity: ``save_model`` records the sha256 of the weights file in ``model_config.json``, and every
load (``load_model``, ``load_weights``: checkpoints, evaluation, generation, the MLflow pyfunc,
serving) checks it first, so damaged weights are a one-line :class:`WeightsIntegrityError` naming
the file instead of a model that silently computes NaN. Folders written before the hash was
recorded still load, with a warning on stderr (once per file).
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import uuid
from pathlib import Path

import torch

from arlm.errors import ConfigError, DataError, NotFoundError
from arlm.models.base import LanguageModel
from arlm.versioning import TMP_MARK, atomic_write_json, sha256_file

WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "model_config.json"
FORMAT_VERSION = 1
SHA256_KEY = "weights_sha256"
_WARNED_UNCHECKED: set[str] = set()


class WeightsIntegrityError(DataError):
    """A weights file whose sha256 is not the one recorded when it was written (corrupted)."""


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


def unique_tensors(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The state dict with each shared tensor (tied embeddings) kept once, under its first name.

    Written with ``save_file`` and a fixed metadata dict, the same weights give the same bytes
    (``safetensors.torch.save_model`` adds the dropped aliases to the header metadata in an order
    that changes between processes). Loading needs no alias list: ``load_model(strict=False)``
    ties the dropped names back to their kept twin."""
    seen: dict[tuple[int, int, tuple], str] = {}
    out: dict[str, torch.Tensor] = {}
    for name, tensor in model.state_dict().items():
        key = (tensor.untyped_storage().data_ptr(), tensor.storage_offset(), tuple(tensor.shape))
        if key in seen:
            continue
        seen[key] = name
        out[name] = tensor.detach().contiguous()
    return out


def save_model(model: torch.nn.Module, directory: str | os.PathLike) -> Path:
    """Write the weights and config into ``directory`` (created); each file replaced atomically."""
    from safetensors.torch import save_file

    model = unwrap(model)
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    tmp = directory / f"{WEIGHTS_FILE}{TMP_MARK}{uuid.uuid4().hex[:8]}"
    try:
        save_file(unique_tensors(model), str(tmp), metadata={"kind": model.kind})
        digest = sha256_file(tmp)
        os.replace(tmp, directory / WEIGHTS_FILE)
    finally:
        tmp.unlink(missing_ok=True)
    atomic_write_json(directory / CONFIG_FILE, {**model_metadata(model), SHA256_KEY: digest})
    return directory


def recorded_sha256(directory: str | os.PathLike) -> str | None:
    """The weights' sha256 recorded in the folder's ``model_config.json`` (None: not recorded)."""
    path = Path(directory) / CONFIG_FILE
    if not path.is_file():
        return None
    value = read_model_metadata(directory).get(SHA256_KEY)
    return value if isinstance(value, str) and value else None


def verify_weights(path: str | os.PathLike, expected: str | None = None) -> str | None:
    """Check ``path`` (a ``model.safetensors``) against ``expected`` or, by default, the sha256
    recorded in the ``model_config.json`` beside it; returns the file's sha256 (None when nothing
    was recorded: a folder from before hashes were written, loaded with a warning).

    A mismatch raises :class:`WeightsIntegrityError` naming the file."""
    path = Path(path)
    if not path.is_file():
        raise NotFoundError(f"{path}: weights file missing")
    if expected is None:
        expected = recorded_sha256(path.parent)
    if expected is None:
        if str(path) not in _WARNED_UNCHECKED:
            _WARNED_UNCHECKED.add(str(path))
            print(
                f"arlm: warning: {path}: no sha256 recorded in {CONFIG_FILE} (written by an older "
                "arlm): integrity not checked",
                file=sys.stderr,
            )
        return None
    actual = sha256_file(path)
    if actual != expected:
        raise WeightsIntegrityError(
            f"{path}: corrupted weights: sha256 {actual[:16]}... differs from the "
            f"{expected[:16]}... recorded when it was written (re-register or "
            "retrain the model)"
        )
    return actual


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


def config_from_metadata(meta: dict, where: str = "model config", kinds: dict[str, str] | None = None):
    """(class, config) of a model folder's metadata, without weights; ``kinds`` is the kind table
    to look the class up in (default: the decoder-only family; see ``arlm.models.seq2seq``)."""
    from arlm.models.registry import model_class

    try:
        cls = model_class(meta["kind"], kinds)
    except ConfigError as exc:
        raise DataError(f"{where}: {exc}") from exc
    known = {f.name for f in dataclasses.fields(cls.config_class)}
    unknown = sorted(set(meta["config"]) - known)
    if unknown:
        raise DataError(
            f"{where}: unknown {meta['kind']} config field(s) {', '.join(unknown)} (written by a newer arlm?)"
        )
    try:
        return cls, cls.config_class(**meta["config"])
    except (TypeError, ConfigError) as exc:
        raise DataError(f"{where}: invalid {meta['kind']} config: {exc}") from exc


def load_weights(model: LanguageModel, path: Path) -> None:
    """Load ``model.safetensors`` into ``model`` strictly, after checking its sha256 against the
    one recorded beside it (:func:`verify_weights`); a damaged file is a DataError."""
    from safetensors import SafetensorError
    from safetensors.torch import load_model as st_load_model

    path = Path(path)
    verify_weights(path)
    try:
        missing, unexpected = st_load_model(model, str(path), strict=False, device="cpu")
    except (SafetensorError, OSError, RuntimeError, ValueError) as exc:
        raise DataError(f"{path}: corrupted or incompatible weights ({exc})") from exc
    if missing or unexpected:
        raise DataError(
            f"{path}: weights do not match the {model.kind} config "
            f"(missing {sorted(missing)[:5]}, unexpected {sorted(unexpected)[:5]})"
        )


def load_model(directory: str | os.PathLike, device: str | torch.device = "cpu") -> LanguageModel:
    """The model saved in ``directory`` by ``save_model``, in eval mode on ``device``."""
    directory = Path(directory)
    meta = read_model_metadata(directory)
    cls, config = config_from_metadata(meta, str(directory / CONFIG_FILE))
    model = cls(config)
    load_weights(model, directory / WEIGHTS_FILE)
    return model.to(device).eval()
