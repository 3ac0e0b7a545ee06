"""Checkpoints: everything needed to continue a run bit for bit, with no pickles.

A checkpoint folder holds the model folder files (``model.safetensors``, ``model_config.json``),
``optimizer.safetensors`` (the AdamW moments and step counts, keyed ``state.<param>.<name>``) and
``train_state.json`` (step, optimizer hyper-parameters, sampler position, python/numpy/torch RNG
states, best validation loss, early-stopping counter, history so far, elapsed seconds, restarts,
and the sha256 of every file, so a damaged checkpoint is detected instead of half-loaded).

Folders are written complete under a temporary name and then swapped in: ``latest`` is first
renamed to ``latest.prev``, the new folder renamed to ``latest``, then ``latest.prev`` removed. A
process killed at any point leaves either ``latest`` or ``latest.prev`` intact, and
``find_checkpoint`` takes whichever exists.
"""

from __future__ import annotations

import base64
import json
import random
import shutil
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import torch

from arlm.errors import ConfigError, DataError, NotFoundError
from arlm.models.base import LanguageModel
from arlm.models.serialization import CONFIG_FILE, WEIGHTS_FILE, load_weights, read_model_metadata, save_model, unwrap
from arlm.versioning import TMP_MARK, atomic_write_json, sha256_file

OPTIMIZER_FILE = "optimizer.safetensors"
STATE_FILE = "train_state.json"
LATEST = "latest"
BEST = "best"
PREV_SUFFIX = ".prev"
STATE_VERSION = 1


def checkpoints_dir(out_dir: Path) -> Path:
    return Path(out_dir) / "checkpoints"


# -- RNG ---------------------------------------------------------------------------------------
def rng_state() -> dict[str, Any]:
    """Python, numpy and torch (CPU and CUDA) generator states, JSON-serialisable."""
    py = random.getstate()
    np_state = np.random.get_state()
    state = {
        "python": [py[0], list(py[1]), py[2]],
        "numpy": [np_state[0], np_state[1].tolist(), int(np_state[2]), int(np_state[3]), float(np_state[4])],
        "torch": base64.b64encode(torch.get_rng_state().numpy().tobytes()).decode("ascii"),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = [base64.b64encode(s.numpy().tobytes()).decode("ascii") for s in torch.cuda.get_rng_state_all()]
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    n = state["numpy"]
    np.random.set_state((n[0], np.array(n[1], dtype=np.uint32), n[2], n[3], n[4]))
    torch.set_rng_state(_bytes_tensor(state["torch"]))
    if "cuda" in state and torch.cuda.is_available():
        cuda_states = [_bytes_tensor(s) for s in state["cuda"]]
        if len(cuda_states) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(cuda_states)


def _bytes_tensor(b64: str) -> torch.Tensor:
    return torch.frombuffer(bytearray(base64.b64decode(b64)), dtype=torch.uint8).clone()


# -- optimizer ---------------------------------------------------------------------------------
def optimizer_tensors(optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict]:
    """Split ``optimizer.state_dict()`` into tensors (for safetensors) and JSON (the rest)."""
    sd = optimizer.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for idx, entry in sd["state"].items():
        for name, value in entry.items():
            if torch.is_tensor(value):
                tensors[f"state.{idx}.{name}"] = value.detach().to("cpu").contiguous()
            else:
                scalars.setdefault(str(idx), {})[name] = value
    meta = {"param_groups": sd["param_groups"], "scalars": scalars}
    return tensors, meta


def load_optimizer(optimizer: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], meta: dict) -> None:
    state: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        _, idx, name = key.split(".", 2)
        state.setdefault(int(idx), {})[name] = value
    for idx, entry in meta.get("scalars", {}).items():
        state.setdefault(int(idx), {}).update(entry)
    groups = meta["param_groups"]
    for g in groups:
        if "betas" in g:
            g["betas"] = tuple(g["betas"])
    optimizer.load_state_dict({"state": state, "param_groups": groups})


# -- save / find / load ------------------------------------------------------------------------
def save_checkpoint(
    target: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer | None, state: dict[str, Any]
) -> Path:
    """Write a complete checkpoint into ``target`` (e.g. ``out/checkpoints/latest``), atomically.

    ``state`` is the loop's JSON-able state; RNG states, optimizer hyper-parameters and file
    hashes are added here."""
    from safetensors.torch import save_file

    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / f"{target.name}{TMP_MARK}{uuid.uuid4().hex[:8]}"
    try:
        save_model(unwrap(model), tmp)
        full_state = dict(state)
        full_state["version"] = STATE_VERSION
        full_state["rng"] = rng_state()
        if optimizer is not None:
            tensors, meta = optimizer_tensors(optimizer)
            save_file(tensors, str(tmp / OPTIMIZER_FILE))
            full_state["optimizer"] = meta
        full_state["files"] = {p.name: sha256_file(p) for p in sorted(tmp.iterdir()) if p.is_file()}
        atomic_write_json(tmp / STATE_FILE, full_state)
        _swap_in(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def _swap_in(new: Path, target: Path) -> None:
    prev = target.with_name(target.name + PREV_SUFFIX)
    if prev.exists():
        if target.exists():
            shutil.rmtree(prev)
        else:  # the previous swap died between its two renames: prev is the only good copy
            prev.rename(target)
    if target.exists():
        target.rename(prev)
    new.rename(target)
    shutil.rmtree(prev, ignore_errors=True)


def find_checkpoint(out_dir: Path, name: str = LATEST) -> Path | None:
    """``out/checkpoints/<name>``, or its ``.prev`` left by a swap that was interrupted."""
    base = checkpoints_dir(out_dir)
    for candidate in (base / name, base / (name + PREV_SUFFIX)):
        if candidate.is_dir():
            return candidate
    return None


def saved_train_config(ckpt: Path) -> dict[str, Any]:
    """The ``TrainConfig`` dict a checkpoint was written under, read without verifying the files
    (cheap; ``load_checkpoint`` verifies them); {} when it cannot be read."""
    try:
        return dict(json.loads((Path(ckpt) / STATE_FILE).read_text()).get("train_config") or {})
    except (OSError, ValueError, AttributeError):
        return {}


def read_state(ckpt: Path) -> dict[str, Any]:
    """``train_state.json`` of a checkpoint, after checking every file against its sha256."""
    path = ckpt / STATE_FILE
    if not path.is_file():
        raise DataError(f"{ckpt}: not a checkpoint or an incomplete one (no {STATE_FILE})")
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"{path}: corrupted checkpoint state ({exc})") from exc
    if not isinstance(state, dict) or not isinstance(state.get("files"), dict):
        raise DataError(f"{path}: corrupted checkpoint state (no file list)")
    for name, digest in state["files"].items():
        f = ckpt / name
        if not f.is_file():
            raise DataError(f"{f}: checkpoint file missing")
        if sha256_file(f) != digest:
            raise DataError(f"{f}: checkpoint file corrupted (sha256 mismatch)")
    return state


def check_compatible(ckpt: Path, model: LanguageModel) -> None:
    """A checkpoint of another kind or config is an error, never a silent fresh start."""
    meta = read_model_metadata(ckpt)
    if meta["kind"] != model.kind:
        raise ConfigError(
            f"{ckpt}: checkpoint is of model kind {meta['kind']!r}, this run trains "
            f"{model.kind!r}; use another output folder or resume=False"
        )
    mine = model.config.to_dict()
    theirs = meta["config"]
    diff = sorted(k for k in set(mine) | set(theirs) if mine.get(k) != theirs.get(k))
    if diff:
        details = ", ".join(f"{k}: {theirs.get(k)!r} != {mine.get(k)!r}" for k in diff[:4])
        raise ConfigError(
            f"{ckpt}: checkpoint's {model.kind} config differs from this run's ({details}); "
            "use another output folder or resume=False"
        )


def load_checkpoint(
    ckpt: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer | None = None, restore_rng: bool = True
) -> dict[str, Any]:
    """Load weights (and optimizer, RNG) from ``ckpt`` into the given objects; return the state."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    ckpt = Path(ckpt)
    if not ckpt.is_dir():
        raise NotFoundError(f"{ckpt}: no such checkpoint")
    state = read_state(ckpt)
    raw = unwrap(model)
    check_compatible(ckpt, raw)
    device = next(iter(raw.state_dict().values()), torch.empty(0)).device
    load_weights(raw, ckpt / WEIGHTS_FILE)
    raw.to(device)
    if optimizer is not None and "optimizer" in state:
        try:
            tensors = load_file(str(ckpt / OPTIMIZER_FILE))
            load_optimizer(optimizer, tensors, state["optimizer"])
        except (SafetensorError, OSError, KeyError, ValueError, RuntimeError) as exc:
            raise DataError(f"{ckpt / OPTIMIZER_FILE}: cannot restore optimizer state ({exc})") from exc
    if restore_rng and "rng" in state:
        set_rng_state(state["rng"])
    return state


__all__ = [
    "save_checkpoint",
    "load_checkpoint",
    "find_checkpoint",
    "read_state",
    "check_compatible",
    "checkpoints_dir",
    "LATEST",
    "BEST",
    "STATE_FILE",
    "OPTIMIZER_FILE",
    "WEIGHTS_FILE",
    "CONFIG_FILE",
]
