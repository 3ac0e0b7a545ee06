"""A local Hugging Face model folder -> arlm's GPT and its tokenizer, checked before anything is kept.

The folder holds ``config.json``, ``model.safetensors`` (or shards listed in
``model.safetensors.index.json``) and the tokenizer: ``tokenizer.json`` used as it is, or
``vocab.json`` + ``merges.txt`` converted by ``transformers``. GPT-2 (``GPT2LMHeadModel``) is the
architecture this is for; the GPT-NeoX layout that ``arlm.hf.export`` writes for rotary models
reads back too. The weight mapping is ``arlm.hf.mapping``.

Refused, each with the file and the problem named, before a model or a registry entry exists:
a folder without ``config.json``; an architecture arlm's GPT cannot compute exactly (named, with
the setting); weights only in pickle files (``pytorch_model.bin``: never unpickled); a truncated or
corrupt safetensors file; missing or surplus tensors; a tokenizer whose vocabulary differs from
the model's, or whose ``<|endoftext|>`` is not the model's end-of-text id.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from arlm.errors import ConfigError, DataError, NotFoundError
from arlm.hf import mapping
from arlm.hf.hub import resolve_source
from arlm.tokenizers.config import EOT, PAD

CONFIG_JSON = "config.json"
WEIGHTS = "model.safetensors"
WEIGHTS_INDEX = "model.safetensors.index.json"
TOKENIZER_JSON = "tokenizer.json"
PICKLE_WEIGHTS = ("pytorch_model.bin", "pytorch_model.bin.index.json", "model.ckpt", "tf_model.h5")


@dataclass
class HFCheckpoint:
    """What a Hugging Face folder holds, checked and mapped to arlm."""

    folder: Path
    source: str  # what the user gave: a path or hf:NAME
    arch: str  # mapping.GPT2 or mapping.NEOX
    config: dict[str, Any]  # config.json as read
    gpt_fields: dict[str, Any]  # the GPTConfig fields
    tensors: dict[str, torch.Tensor]  # as stored (HF names, HF layout)
    tokenizer_json: str
    eot_id: int
    pad_id: int
    weights_sha256: str  # of model.safetensors (shards: of their sorted name:sha256 list)
    weight_files: list[str]


def read_config(folder: Path) -> dict[str, Any]:
    path = folder / CONFIG_JSON
    if not path.is_file():
        present = ", ".join(sorted(p.name for p in folder.iterdir())[:8]) or "nothing"
        raise NotFoundError(f"{path}: missing: {folder} is not a Hugging Face model folder (it holds {present})")
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(config, dict):
        raise DataError(f"{path}: expected a JSON object, got {type(config).__name__}")
    return config


def _weight_files(folder: Path) -> list[Path]:
    index = folder / WEIGHTS_INDEX
    if (folder / WEIGHTS).is_file():
        return [folder / WEIGHTS]
    if index.is_file():
        try:
            names = sorted(set(json.loads(index.read_text(encoding="utf-8"))["weight_map"].values()))
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise DataError(f"{index}: not a safetensors index ({exc})") from None
        files = [folder / n for n in names]
        missing = [str(f) for f in files if not f.is_file()]
        if missing:
            raise DataError(f"{index}: lists shard(s) that are missing: {', '.join(missing[:3])}")
        return files
    pickles = [n for n in PICKLE_WEIGHTS if (folder / n).exists()]
    if pickles:
        raise DataError(
            f"{folder}: weights only as {', '.join(pickles)}; arlm reads safetensors only (never "
            "unpickles): convert them with transformers' save_pretrained(safe_serialization=True)"
        )
    raise NotFoundError(f"{folder / WEIGHTS}: missing (no safetensors weights in {folder})")


def read_tensors(folder: Path) -> tuple[dict[str, torch.Tensor], str, list[str]]:
    """All tensors of the folder's safetensors file(s), with their sha256; a truncated or corrupt
    file is a DataError naming it."""
    from safetensors import SafetensorError, safe_open

    from arlm.versioning import content_hash, sha256_file

    files = _weight_files(folder)
    tensors: dict[str, torch.Tensor] = {}
    digests = []
    for f in files:
        try:
            with safe_open(str(f), framework="pt") as st:
                for key in st.keys():
                    tensors[key] = st.get_tensor(key)
        except (SafetensorError, OSError, RuntimeError, ValueError) as exc:
            raise DataError(f"{f}: truncated or corrupt safetensors file ({exc}); download it again") from None
        digests.append((f.name, sha256_file(f)))
    digest = digests[0][1] if len(digests) == 1 else content_hash(digests)
    return tensors, digest, [f.name for f in files]


def read_tokenizer(folder: Path) -> str:
    """``tokenizer.json`` as it is, else the ``vocab.json`` + ``merges.txt`` pair converted by
    ``transformers``' ``GPT2Tokenizer`` into the fast-tokenizer JSON it runs on."""
    path = folder / TOKENIZER_JSON
    if path.is_file():
        try:
            return path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise DataError(f"{path}: unreadable ({exc})") from None
    if not ((folder / "vocab.json").is_file() and (folder / "merges.txt").is_file()):
        raise NotFoundError(
            f"{path}: missing, and no vocab.json + merges.txt beside it: {folder} has no tokenizer arlm can use"
        )
    try:
        from transformers import GPT2Tokenizer

        tok = GPT2Tokenizer(vocab=str(folder / "vocab.json"), merges=str(folder / "merges.txt"))
        return tok.backend_tokenizer.to_str()
    except ImportError as exc:
        raise ConfigError(
            f"{folder}: converting vocab.json + merges.txt needs transformers (pip install 'arlm[pretrained]'): {exc}"
        ) from None
    except Exception as exc:  # transformers raises many kinds for a broken tokenizer folder
        raise DataError(f"{folder}: the tokenizer files cannot be read ({exc})") from None


def _ids(value: Any) -> set[int]:
    if value is None:
        return set()
    return {int(v) for v in (value if isinstance(value, list) else [value])}


def check_tokenizer(tokenizer_json: str, config: dict[str, Any], vocab_size: int, where: str) -> tuple[int, int]:
    """(end-of-text id, pad id) once the tokenizer is known to fit the model: same vocabulary size,
    ``<|endoftext|>`` present and equal to the config's eos id when one is given."""
    from tokenizers import Tokenizer as HFTokenizer

    try:
        hf = HFTokenizer.from_str(tokenizer_json)
    except Exception as exc:  # the Rust side raises a bare Exception
        raise DataError(f"{where}: tokenizer.json is not a valid tokenizer ({exc})") from None
    n = hf.get_vocab_size(with_added_tokens=True)
    if n != vocab_size:
        raise DataError(
            f"{where}: vocabulary/tokenizer mismatch: config.json vocab_size is {vocab_size}, the "
            f"tokenizer has {n} tokens (ids would not address the embedding rows)"
        )
    eot = hf.token_to_id(EOT)
    if eot is None:
        raise DataError(
            f"{where}: vocabulary/tokenizer mismatch: the tokenizer has no {EOT} token "
            "(arlm separates documents with it)"
        )
    eos = _ids(config.get("eos_token_id"))
    if eos and eot not in eos:
        raise DataError(
            f"{where}: vocabulary/tokenizer mismatch: {EOT} is id {eot} in the tokenizer but "
            f"config.json's eos_token_id is {config.get('eos_token_id')}"
        )
    pad = config.get("pad_token_id")
    if pad is None:
        pad = hf.token_to_id(PAD)
    pad = eot if pad is None else int(pad)
    if not 0 <= pad < n:
        raise DataError(f"{where}: pad_token_id {pad} is outside the vocabulary of {n}")
    return int(eot), pad


def _has_bias(arch: str, config: dict[str, Any], tensors: dict[str, torch.Tensor]) -> bool:
    """GPT-2 always has biases; a NeoX export of a bias-free arlm GPT has attention_bias=false and
    zero biases elsewhere, which arlm holds as bias=false."""
    if arch == mapping.GPT2 or config.get("attention_bias", True):
        return True
    return any(bool(t.any()) for t in mapping.bias_tensors(tensors, arch))


def inspect_hf_checkpoint(source: str | Path) -> tuple[Path, dict[str, Any], str, dict[str, Any], str, int, int]:
    """The checks that need no weights (cheap, for a command's preflight): (folder, config.json,
    architecture, GPTConfig fields, tokenizer.json text, end-of-text id, pad id)."""
    folder = resolve_source(source)
    config = read_config(folder)
    arch, fields = mapping.gpt_fields(config, f"{folder / CONFIG_JSON}")
    tokenizer_json = read_tokenizer(folder)
    eot, pad = check_tokenizer(tokenizer_json, config, fields["vocab_size"], str(folder))
    if not (folder / WEIGHTS).is_file() and not (folder / WEIGHTS_INDEX).is_file():
        _weight_files(folder)  # the error saying what is there instead
    return folder, config, arch, fields, tokenizer_json, eot, pad


def read_hf_checkpoint(source: str | Path) -> HFCheckpoint:
    """Read and check a Hugging Face folder (or ``hf:NAME`` from the local cache); nothing is written."""
    folder, config, arch, fields, tokenizer_json, eot, pad = inspect_hf_checkpoint(source)
    tensors, digest, files = read_tensors(folder)
    fields["bias"] = _has_bias(arch, config, tensors)
    return HFCheckpoint(
        folder=folder,
        source=str(source),
        arch=arch,
        config=config,
        gpt_fields=fields,
        tensors=tensors,
        tokenizer_json=tokenizer_json,
        eot_id=eot,
        pad_id=pad,
        weights_sha256=digest,
        weight_files=files,
    )


def gpt_config(ckpt: HFCheckpoint, **overrides: Any):
    from arlm.models.gpt import GPTConfig

    try:
        return GPTConfig(**{**ckpt.gpt_fields, **overrides})
    except (TypeError, ConfigError) as exc:
        raise ConfigError(f"{ckpt.folder / CONFIG_JSON}: arlm's GPT cannot take this config ({exc})") from None


def build_model(ckpt: HFCheckpoint):
    """arlm's GPT holding the checkpoint's weights (float32, eval mode)."""
    from arlm.models.gpt import GPT

    cfg = gpt_config(ckpt)
    model = GPT(cfg)
    expected = {k: v.shape for k, v in model.state_dict().items()}
    if cfg.tie_weights:
        expected.pop("lm_head.weight", None)
    state = mapping.from_hf(ckpt.tensors, cfg, ckpt.arch, str(ckpt.folder), expected)
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [k for k in missing if not (cfg.tie_weights and k == "lm_head.weight")]
    if missing or unexpected:  # pragma: no cover - from_hf fills exactly the expected keys
        raise DataError(
            f"{ckpt.folder}: weights do not fit arlm's GPT (missing {missing[:4]}, unexpected {unexpected[:4]})"
        )
    return model.eval()


def load_hf_model(source: str | Path):
    """(arlm GPT, arlm ``Tokenizer``, ``HFCheckpoint``) of a Hugging Face folder or ``hf:NAME``."""
    from arlm.tokenizers.tokenizer import tokenizer_from_json_str

    ckpt = read_hf_checkpoint(source)
    model = build_model(ckpt)
    tok = tokenizer_from_json_str(ckpt.tokenizer_json, kind="bpe")
    return model, tok, ckpt
