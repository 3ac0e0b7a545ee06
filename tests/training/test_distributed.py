"""The loop under a real torch.distributed process group (gloo, 2 processes): what Ray Train's
TorchTrainer gives each worker. Same global batch on 2 ranks == 1 rank; only rank 0 writes."""

from __future__ import annotations

import json
import os

import pytest
import torch
import torch.multiprocessing as mp
from safetensors.torch import load_file

from arlm.training import TrainConfig, train
from training.ddp_worker import run_rank
from training.token_fixture import make_dataset

pytestmark = pytest.mark.slow  # ~40 s on the shared 2-core machine: two spawned processes import torch

CFG = dict(
    model="gpt",
    model_overrides=dict(n_layer=1, n_head=2, n_embd=32, dropout=0.0),
    batch_size=8,
    block_size=16,
    lr=1e-2,
    warmup_steps=0,
    max_steps=6,
    log_interval=1,
    eval_interval=3,
    eval_batches=2,
    checkpoint_interval=3,
    seed=11,
)


@pytest.mark.parametrize("eval_full", [False, True], ids=["sampled-eval", "full-split-eval"])
def test_two_ranks_match_one_rank_on_the_same_global_batch(tmp_path, eval_full, monkeypatch):
    cfg = {**CFG, "eval_full": eval_full}  # full: each rank scores its share of the windows
    monkeypatch.setenv("ARLM_PEAK_TFLOPS", "0.5")  # a known peak, so MFU is reported on CPU too
    dataset = make_dataset(tmp_path / "ds", vocab_size=40, n_train=6000, n_val=2000)
    one = train(TrainConfig(**cfg), dataset, tmp_path / "one")

    out = tmp_path / "two"
    out.mkdir()
    mp.spawn(run_rank, args=(2, str(tmp_path / "pg"), str(dataset), str(out), cfg), nprocs=2, join=True)
    ranks = [json.loads((out / f"rank{r}.json").read_text()) for r in range(2)]
    two = ranks[0]["result"]

    a = [h["train_loss"] for h in one.history]
    b = [h["train_loss"] for h in two["history"]]
    assert len(a) == len(b) == 6 and a[-1] < a[0]
    for x, y in zip(a, b):
        assert abs(x - y) <= 1e-5 * max(1.0, abs(x)), (a, b)
    assert abs(one.final_val_loss - two["final_val_loss"]) < 1e-5
    # MFU is per device: the global token rate's FLOPs shared by the 2 ranks, against one peak
    for runs, world in ((one.history, 1), (two["history"], 2)):
        logged = [h for h in runs if "tokens_per_s" in h]
        assert logged
        for h in logged:
            assert h["tflops_per_device"] == pytest.approx(h["tflops"] / world, rel=1e-12)
            assert h["mfu"] == pytest.approx(h["tflops"] / world / 0.5, rel=1e-12)
    # every rank reported the same events (Ray's train.report needs all ranks), rank 0 alone a path
    assert [c[:2] for c in ranks[0]["calls"]] == [c[:2] for c in ranks[1]["calls"]]
    assert any(c[2] for c in ranks[0]["calls"]) and not any(c[2] for c in ranks[1]["calls"])
    w1 = load_file(str(one.latest_checkpoint / "model.safetensors"))
    w2 = load_file(str(out / "checkpoints" / "latest" / "model.safetensors"))
    assert all(torch.allclose(w1[k], w2[k], atol=1e-5) for k in w1)
    assert not [p for p in os.listdir(out / "checkpoints") if ".tmp-" in p]
