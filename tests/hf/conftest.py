"""Fixtures of the Hugging Face tests: a byte-level BPE trained here on stdlib sources, tiny GPT-2
checkpoints written by ``transformers`` itself (``save_pretrained``), token datasets made with that
tokenizer. Nothing is downloaded: HF_HUB_OFFLINE is set for the whole package."""

from __future__ import annotations

import inspect
import json
import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

pytest.importorskip("transformers")
pytest.importorskip("peft")

EOT = "<|endoftext|>"


def stdlib_text(max_bytes: int = 600_000) -> str:
    """Source of a few stdlib modules: real, varied text that every Python ships."""
    import argparse
    import collections
    import dataclasses
    import email.message
    import inspect as inspect_mod
    import json as json_mod
    import pathlib
    import shutil
    import textwrap
    import typing

    parts = [
        inspect.getsource(m)
        for m in (
            argparse,
            collections,
            dataclasses,
            email.message,
            inspect_mod,
            json_mod,
            pathlib,
            shutil,
            textwrap,
            typing,
        )
    ]
    return "\n".join(parts)[:max_bytes]


def train_bpe(vocab_size: int = 2000, specials: tuple[str, ...] = (EOT,)):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=list(specials), initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tok.train_from_iterator([stdlib_text()], trainer)
    return tok


@pytest.fixture(scope="session")
def bpe():
    """A GPT-2-style byte-level BPE (vocabulary 2000, ``<|endoftext|>`` id 0) trained here."""
    return train_bpe()


def write_gpt2(
    folder: Path,
    tok,
    *,
    seed: int = 0,
    n_layer: int = 2,
    n_head: int = 4,
    n_embd: int = 64,
    n_positions: int = 64,
    noise: float = 0.05,
    **config,
) -> Path:
    """A GPT-2 checkpoint written by transformers (random weights, then every tensor, biases and
    norms included, moved off its initial value so that a wrong mapping cannot hide)."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    eot = tok.token_to_id(EOT)
    cfg = GPT2Config(
        vocab_size=tok.get_vocab_size(),
        n_positions=n_positions,
        n_embd=n_embd,
        n_layer=n_layer,
        n_head=n_head,
        bos_token_id=eot,
        eos_token_id=eot,
        **config,
    )
    torch.manual_seed(seed)
    model = GPT2LMHeadModel(cfg)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * noise)
    model.save_pretrained(str(folder))
    PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=EOT, eos_token=EOT).save_pretrained(str(folder))
    return folder


@pytest.fixture(scope="session")
def gpt2_dir(tmp_path_factory, bpe) -> Path:
    return write_gpt2(tmp_path_factory.mktemp("gpt2") / "tiny-gpt2", bpe)


def hf_model(folder: Path):
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(str(folder), local_files_only=True).eval()


def token_dataset(path: Path, tok, text_seed: int = 0, max_bytes: int = 200_000):
    """A token dataset (train/val/test) of stdlib text encoded with ``tok``, arlm's on-disk format."""
    from arlm.tokenizers import token_dataset_from_arrays

    text = stdlib_text(max_bytes)
    chunks = [text[i : i + 4000] for i in range(0, len(text), 4000)]
    rng = np.random.default_rng(text_seed)
    rng.shuffle(chunks)
    n = len(chunks)
    splits = {
        "train": chunks[: int(n * 0.8)],
        "val": chunks[int(n * 0.8) : int(n * 0.9)],
        "test": chunks[int(n * 0.9) :],
    }
    eot = tok.token_to_id(EOT)
    arrays, n_bytes = {}, {}
    for name, docs in splits.items():
        ids: list[int] = []
        for d in docs:
            ids.extend(tok.encode(d).ids)
            ids.append(eot)
        arrays[name] = np.asarray(ids)
        n_bytes[name] = sum(len(d.encode()) for d in docs)
    return token_dataset_from_arrays(
        path, arrays, vocab_size=tok.get_vocab_size(), eot_id=eot, pad_id=eot, n_bytes=n_bytes
    )


def registry_state(home) -> dict:
    """What an import could have changed: registered models, catalog rows, tokenizers, imports."""
    from arlm.catalog import Catalog

    models = []
    db = Path(home.mlflow_tracking_uri[len("sqlite:///") :]) if home.mlflow_tracking_uri.startswith("sqlite") else None
    if db is not None and db.exists():
        from arlm.registry.tracking import use_tracking

        models = sorted(m.name for m in use_tracking(home.mlflow_tracking_uri).search_registered_models())
    cat = {}
    if home.catalog_path.exists():
        c = Catalog(home.catalog_path)
        cat = {
            t: c.rows(f"SELECT count(*) AS n FROM {t}")[0]["n"]
            for t in ("models", "model_origins", "tokenizers", "model_aliases")
        }
    listing = lambda p: sorted(x.name for x in p.iterdir()) if p.is_dir() else []  # noqa: E731
    return {
        "models": models,
        "catalog": cat,
        "tokenizers": listing(home.tokenizers),
        "imports": listing(home.root / "imports"),
    }


def dump(obj) -> str:
    return json.dumps(obj, indent=1, default=str)
