"""Bits per byte has one definition: training's validation figure, ``evaluate_stage`` and
``evaluate_text`` score the same text to the same figure (arlm.evaluation.bits.bits_per_byte)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from arlm import stages
from arlm.data import IngestConfig
from arlm.evaluation.bits import bits_per_byte
from arlm.evaluation.text import evaluate_text
from arlm.generation.text import TextGenerator
from arlm.home import get_home
from arlm.tokenizers import TokenizerConfig, load_tokenizer
from arlm.tokenizers.dataset import token_dataset_from_arrays
from arlm.training import TrainConfig, train
from testkit import write_prose_corpus

TEXT = (
    "The model reads every document and predicts the next token.\n"
    "Ünïcödé counts in bytes, not characters: ñ is two, € is three.\n"
) * 12


def test_bits_per_byte_is_nats_over_ln2_over_bytes():
    assert bits_per_byte(1000 * math.log(2), 500) == pytest.approx(2.0, rel=1e-15)
    with pytest.raises(Exception, match="byte count"):
        bits_per_byte(1.0, 0)


def test_one_text_scored_three_ways_gives_one_figure(tmp_path):
    home = get_home(tmp_path / "home")
    quiet = lambda m: None  # noqa: E731
    corpus = write_prose_corpus(tmp_path / "corpus", n_docs=12, sentences=40)
    cv = stages.ingest_stage(IngestConfig(corpus=str(corpus)), home, progress=quiet)
    tok = stages.tokenizer_stage(TokenizerConfig(kind="bpe", vocab_size=300), cv["corpus_id"], home, progress=quiet)
    tokenizer = load_tokenizer(tok["path"])
    # the text as a token dataset holds a document: its tokens, then end-of-text
    doc = np.array([*tokenizer.encode(TEXT), tokenizer.eot_id], dtype=np.int64)
    n_bytes = len(TEXT.encode("utf-8"))
    assert n_bytes > len(TEXT)  # multi-byte characters: bytes, not characters, are the denominator
    ds = token_dataset_from_arrays(
        home.tokens / "one-text",
        {"train": np.tile(doc, 8), "val": doc, "test": doc},
        vocab_size=tokenizer.vocab_size,
        eot_id=tokenizer.eot_id,
        pad_id=tokenizer.pad_id,
        n_bytes={"train": 8 * n_bytes, "val": n_bytes, "test": n_bytes},
        source=cv["corpus_id"],
    )
    cfg = TrainConfig(
        model="gpt",
        model_overrides=dict(n_layer=1, n_head=2, n_embd=32),
        block_size=32,
        batch_size=4,
        max_steps=4,
        warmup_steps=0,
        eval_full=True,
        eval_interval=4,
        checkpoint_interval=4,
        log_interval=2,
    )
    result = train(cfg, ds.path, tmp_path / "run")
    during_training = [h for h in result.history if "val_bits_per_byte" in h][-1]["val_bits_per_byte"]

    model_dir = result.latest_checkpoint
    stage = stages.evaluate_stage(str(model_dir), ds.id, home, split="val")["bits_per_byte"]
    text = evaluate_text(TextGenerator.from_dirs(model_dir, tok["path"]), TEXT)["bits_per_byte"]

    assert 0 < during_training < 20
    assert stage == pytest.approx(during_training, rel=1e-6)
    assert text == pytest.approx(stage, rel=1e-6)
