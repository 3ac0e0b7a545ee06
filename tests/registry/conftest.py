"""Registry fixtures: one real MLflow SQLite store per test module (a fresh store costs ~10 s of
migrations), a small byte-level BPE tokenizer and tiny GPT model folders."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

TEXT = (
    "the model reads text and learns to predict the next token from the ones before it "
    "so that it can write new text one token at a time. "
) * 40


@pytest.fixture(scope="module")
def mlflow_home(tmp_path_factory):
    """A project home exported as ARLM_HOME for the whole module, MLflow store inside it."""
    from arlm.home import get_home

    root = tmp_path_factory.mktemp("registry") / "arlm-home"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ARLM_HOME", str(root))
        mp.delenv("MLFLOW_TRACKING_URI", raising=False)
        mp.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
        yield get_home(root).ensure()


@pytest.fixture(scope="module")
def tokenizer_dir(tmp_path_factory) -> Path:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=320,
        special_tokens=["<|endoftext|>", "<|pad|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator([TEXT], trainer)
    d = tmp_path_factory.mktemp("tokenizer")
    tok.save(str(d / "tokenizer.json"))
    (d / "tokenizer_meta.json").write_text(
        json.dumps({"kind": "bpe", "vocab_size": tok.get_vocab_size(), "eot_id": 0, "pad_id": 1})
    )
    return d


@pytest.fixture(scope="module")
def make_model_dir(tmp_path_factory, tokenizer_dir):
    """make_model_dir(seed) -> a tiny GPT model folder matching the tokenizer (different weights per seed)."""
    import torch

    from arlm.models import build_model, save_model
    from tokenizers import Tokenizer

    vocab = Tokenizer.from_file(str(tokenizer_dir / "tokenizer.json")).get_vocab_size()

    def make(seed: int = 0) -> Path:
        torch.manual_seed(seed)
        model = build_model("gpt", vocab, 64, n_layer=1, n_head=2, n_embd=16)
        d = tmp_path_factory.mktemp(f"model{seed}")
        save_model(model, d)
        (d / "train_state.json").write_text("{}")  # a checkpoint extra that must not be logged
        return d

    return make
