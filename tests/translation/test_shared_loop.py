"""The seq2seq kinds train through the one training loop (``arlm.training.train``) on a pair token
dataset: a toy copy task is learned to >= 99% exact match in under a minute, an interrupted run
resumes bit for bit, and a model of the wrong family for the data is refused with the reason."""

from __future__ import annotations

import random
import time

import pytest
import torch

from arlm.errors import ConfigError
from arlm.models.seq2seq import load_seq2seq
from arlm.training import TrainConfig, train
from arlm.translation.dataset import PairTokenDataset, write_pair_dataset
from arlm.translation.decode import DecodeConfig, translate_ids
from translation.toy import VOCAB, sample_pairs

SMALL = {
    "d_model": 64,
    "n_head": 4,
    "d_ff": 256,
    "n_encoder_layer": 1,
    "n_decoder_layer": 1,
    "dropout": 0.0,
    "norm": "pre",
    "positions": "learned",
}
# the tiny preset's own layout (post-norm, sinusoids) with the loop's default optimizer (Muon): under
# AdamW this 64-wide post-norm stack stays at the uniform loss for 400 steps (embeddings of
# 0.02 x sqrt(64) beside unit-amplitude positions), under Muon it copies perfectly
POST_MUON = dict(
    model_overrides={**SMALL, "norm": "post", "positions": "sinusoidal"},
    optimizer="muon",
    lr=2e-3,
    min_lr=2e-4,
    weight_decay=0.1,
    betas=(0.9, 0.95),
)


def toy_dataset(root, task: str = "reverse", n_train: int = 20000) -> PairTokenDataset:
    splits = {}
    for split, (seed, n) in {"train": (1, n_train), "val": (2, 200), "test": (3, 200)}.items():
        pairs = sample_pairs(random.Random(seed), n, task)
        splits[split] = ([p[0] for p in pairs], [p[1] for p in pairs], sum(len(p[1]) for p in pairs))
    return write_pair_dataset(
        root,
        corpus_id=f"toy-{task}",
        src_tokenizer_id="toy",
        tgt_tokenizer_id="toy",
        src_vocab_size=VOCAB,
        vocab_size=VOCAB,
        splits=splits,
    )


def config(**kw) -> TrainConfig:
    base = dict(
        model="transformer-seq2seq/tiny",
        model_overrides=SMALL,
        block_size=24,
        batch_size=64,  # a step packs at most 64 x 24 padded tokens a side
        lr=3e-3,
        min_lr=3e-4,
        warmup_steps=30,
        optimizer="adamw",
        weight_decay=0.0,
        betas=(0.9, 0.98),
        max_steps=400,  # copy: 100% exact match at 350 steps in 8 s on 2 idle cores
        eval_interval=1000,
        eval_batches=4,
        checkpoint_interval=1000,
        checkpoint_seconds=None,
        log_interval=50,
        device="cpu",
    )
    return TrainConfig(**{**base, **kw})


def exact_match(model, data: PairTokenDataset) -> float:
    src, tgt = data.pairs("test")
    outs = translate_ids(model, src, DecodeConfig(batch_size=200))
    return sum(o == t for o, t in zip(outs, tgt)) / len(tgt)


@pytest.mark.parametrize("layout", [{}, POST_MUON], ids=["pre-norm-adamw", "post-norm-muon"])
def test_copy_task_is_learned_through_the_shared_loop(tmp_path, layout):
    data = toy_dataset(tmp_path / "tokens", "copy")
    # CPU seconds, not wall time: the same on a loaded machine (one minute of 2 cores = 120)
    start = time.process_time()
    result = train(config(**layout), data.path, tmp_path / "run")
    elapsed = time.process_time() - start
    model = load_seq2seq(result.latest_checkpoint)
    score = exact_match(model, data)
    losses = [h["train_loss"] for h in result.history if "train_loss" in h]
    assert score >= 0.99, f"exact match {score:.3f} after {result.steps} steps (losses {losses})"
    assert elapsed < 60 * max(1, torch.get_num_threads()), f"took {elapsed:.1f} CPU s for {result.steps} steps"
    assert result.final_val_loss is not None and result.final_val_loss < 0.3  # plain NLL of a label-smoothed model
    assert result.tokens > 0 and result.history[-1]["tokens_per_s"] > 0


def test_interrupted_run_resumes_bit_for_bit(tmp_path):
    data = toy_dataset(tmp_path / "tokens", "copy", n_train=2000)
    cfg = config(
        max_steps=24, checkpoint_interval=8, log_interval=4, eval_interval=8, model_overrides={**SMALL, "dropout": 0.1}
    )
    whole = train(cfg, data.path, tmp_path / "whole")

    class Crash(Exception):
        pass

    def crash_after_16(metrics, checkpoint_dir):
        if metrics.get("kind") == "checkpoint" and metrics["step"] == 16:
            raise Crash

    with pytest.raises(Crash):
        train(cfg, data.path, tmp_path / "cut", reporter=crash_after_16)
    resumed = train(cfg, data.path, tmp_path / "cut")
    assert resumed.restarts == 1 and resumed.steps == whole.steps == 24
    a, b = load_seq2seq(whole.latest_checkpoint), load_seq2seq(resumed.latest_checkpoint)
    for (name, x), (_, y) in zip(a.state_dict().items(), b.state_dict().items()):
        assert torch.equal(x, y), name
    assert [h["train_loss"] for h in whole.history] == [h["train_loss"] for h in resumed.history]
    assert whole.tokens == resumed.tokens


def test_wrong_family_for_the_data_is_refused(tmp_path):
    data = toy_dataset(tmp_path / "tokens", "copy", n_train=100)
    with pytest.raises(ConfigError, match="language model.*sentence pairs"):
        config(model="gpt/tiny").validate(data.path)


def test_bf16_autocast_and_compile_train_a_seq2seq_model(tmp_path):
    """The loop's bfloat16 autocast and torch.compile (aot_eager: no code generation) take the seq2seq
    forward as they take a language model's."""
    data = toy_dataset(tmp_path / "tokens", "copy", n_train=500)
    cfg = config(
        max_steps=6, log_interval=3, eval_interval=6, dtype="bfloat16", compile=True, compile_backend="aot_eager"
    )
    result = train(cfg, data.path, tmp_path / "run")
    losses = [h["train_loss"] for h in result.history]
    assert result.steps == 6 and all(0 < x < 10 for x in losses) and result.final_val_loss is not None


@pytest.mark.parametrize("attention", ["luong", "bahdanau"])
def test_lstm_attention_kind_trains_in_the_same_loop(tmp_path, attention):
    data = toy_dataset(tmp_path / "tokens", "copy", n_train=2000)
    cfg = config(
        model="lstm-attn-seq2seq/tiny",
        model_overrides={"n_embd": 32, "hidden_size": 32, "attention": attention, "dropout": 0.0},
        max_steps=40,
        log_interval=10,
        eval_interval=40,
    )
    result = train(cfg, data.path, tmp_path / "run")
    losses = [h["train_loss"] for h in result.history]
    assert result.model_kind == "lstm-attn-seq2seq" and losses[-1] < losses[0], losses
    assert load_seq2seq(result.latest_checkpoint).config.attention == attention


@pytest.mark.slow  # two spawned processes import torch: ~30 s on 2 cores
def test_two_gloo_ranks_share_each_pair_batch(tmp_path):
    """What Ray Train's workers do: DDP over gloo, each rank its share of the step's pairs. The global
    batch is the same as on one rank, so the loss curve follows the one-rank run closely (not
    exactly: each rank averages over its own target tokens) and only rank 0 writes checkpoints."""
    import json

    import torch.multiprocessing as mp

    from training.ddp_worker import run_rank

    data = toy_dataset(tmp_path / "tokens", "copy", n_train=3000)
    cfg = dict(
        model="transformer-seq2seq/tiny",
        model_overrides=SMALL,
        block_size=24,
        batch_size=16,
        lr=3e-3,
        warmup_steps=0,
        optimizer="adamw",
        max_steps=12,
        log_interval=3,
        eval_interval=6,
        eval_batches=4,
        checkpoint_interval=6,
        checkpoint_seconds=None,
        device="cpu",
    )
    one = train(TrainConfig(**cfg), data.path, tmp_path / "one")
    out = tmp_path / "two"
    out.mkdir()
    mp.spawn(run_rank, args=(2, str(tmp_path / "pg"), str(data.path), str(out), cfg), nprocs=2, join=True)
    two = [json.loads((out / f"rank{r}.json").read_text()) for r in range(2)]
    a = [h["train_loss"] for h in one.history]
    b = [h["train_loss"] for h in two[0]["result"]["history"]]
    assert len(a) == len(b) == 4 and b[-1] < b[0], b
    for x, y in zip(a, b):
        assert abs(x - y) < 0.05 * x, (a, b)
    assert two[0]["result"]["tokens"] == two[1]["result"]["tokens"] == one.tokens  # the global batch's tokens
    assert [c[2] for c in two[1]["calls"] if c[0] == "checkpoint"] == [False, False]  # rank 1 writes nothing
