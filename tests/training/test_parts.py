"""Sampler, schedule and optimizer groups: the pieces exact resume and DDP equivalence rest on."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from arlm.models import build_model
from arlm.training.optim import ChainedOptimizer, Muon, build_optimizer, hidden_matrices, orthogonalise, set_lr
from arlm.training.sampler import RankBatches, WindowSampler
from arlm.training.schedule import lr_at

SHARDS = [
    np.arange(0, 100, dtype=np.uint16),
    np.arange(1000, 1050, dtype=np.uint16),
    np.arange(2000, 2010, dtype=np.uint16),
]  # the last is too short for block 16


def batches(rank, world, accum=1, global_batch=8):
    sampler = WindowSampler(SHARDS, 16, seed=5, stream=0)
    return RankBatches(sampler, global_batch, rank, world, accum, torch.device("cpu"))


def rows(rb, step):
    return torch.cat([torch.cat((x, y[:, -1:]), 1) for x, y in rb.micro_batches(step)])


def test_ranks_split_the_global_batch_without_overlap():
    whole = rows(batches(0, 1), step=3)
    parts = [rows(batches(r, 4), step=3) for r in range(4)]
    assert torch.equal(torch.cat(parts), whole)  # disjoint row ranges that tile the batch
    accum = rows(batches(0, 1, accum=4), step=3)
    assert torch.equal(accum, whole)


def test_batches_are_a_function_of_seed_and_step_only():
    a, b = batches(0, 1), batches(0, 1)
    assert torch.equal(rows(a, 7), rows(b, 7))
    assert not torch.equal(rows(a, 7), rows(a, 8))
    other_seed = RankBatches(WindowSampler(SHARDS, 16, seed=6, stream=0), 8, 0, 1, 1, torch.device("cpu"))
    assert not torch.equal(rows(other_seed, 7), rows(a, 7))


def test_windows_stay_inside_one_shard_and_targets_are_shifted():
    rb = batches(0, 1, global_batch=64)
    for step in range(20):
        for x, y in rb.micro_batches(step):
            assert torch.equal(x[:, 1:], y[:, :-1])
            diffs = torch.diff(torch.cat((x, y[:, -1:]), 1), dim=1)
            assert (diffs == 1).all()  # consecutive ids: never crossed a shard boundary
            assert (x < 2000).all()  # the too-short shard is never used


def test_warmup_then_cosine_to_min_lr():
    lrs = [lr_at(s, 1.0, 0.1, 10, 110) for s in range(120)]
    assert lrs[0] == pytest.approx(0.1) and lrs[9] == pytest.approx(1.0)
    assert lrs[10] == pytest.approx(1.0)
    assert lrs[60] == pytest.approx(0.1 + 0.45 * (1 + math.cos(math.pi * 50 / 99)))
    assert lrs[109] == pytest.approx(0.1) and lrs[119] == pytest.approx(0.1)  # the last step: min_lr
    assert all(a >= b for a, b in zip(lrs[10:], lrs[11:]))
    # time budget alone: follows the fraction of time used
    assert lr_at(50, 1.0, 0.0, 0, None, time_fraction=0.5) == pytest.approx(0.5)


def test_no_weight_decay_on_norms_and_biases():
    model = build_model("gpt", 64, 16, n_layer=1, n_head=2, n_embd=16, bias=True)
    opt = build_optimizer(model, 1e-3, 0.1, (0.9, 0.95), torch.device("cpu"))
    decay, no_decay = opt.param_groups
    assert decay["weight_decay"] == 0.1 and no_decay["weight_decay"] == 0.0
    assert all(p.dim() >= 2 for p in decay["params"]) and all(p.dim() < 2 for p in no_decay["params"])
    assert any(p is model.wte.weight for p in decay["params"])
    n = sum(p.numel() for g in opt.param_groups for p in g["params"])
    assert n == model.num_params()  # tied head counted once


@pytest.mark.parametrize("shape", [(24, 96), (96, 24), (48, 48)])
def test_newton_schulz_pushes_every_singular_value_near_one(shape):
    """A matrix with singular values spread over two decades comes out with all of them in
    roughly [0.7, 1.2] and the same singular vectors: what makes Muon's update equalise directions."""
    gen = torch.Generator().manual_seed(0)
    k = min(shape)
    u, _ = torch.linalg.qr(torch.randn(shape[0], k, generator=gen))
    v, _ = torch.linalg.qr(torch.randn(shape[1], k, generator=gen))
    g = u @ torch.diag(torch.logspace(0, 2, k)) @ v.T
    out = orthogonalise(g)
    sv = torch.linalg.svdvals(out)
    assert sv.min() > 0.6 and sv.max() < 1.25, sv
    assert torch.allclose(u.T @ out @ v, torch.diag(torch.diagonal(u.T @ out @ v)), atol=1e-3)  # same vectors


def test_muon_takes_the_hidden_matrices_and_adamw_the_rest():
    model = build_model("gpt", 64, 16, n_layer=2, n_head=2, n_embd=16, bias=True)
    opt = build_optimizer(model, 1e-3, 0.1, (0.9, 0.95), torch.device("cpu"), "muon", 0.9, 3.0)
    assert isinstance(opt, ChainedOptimizer)
    muon, adamw = opt.optimizers
    assert isinstance(muon, Muon) and isinstance(adamw, torch.optim.AdamW)
    matrices = {id(p) for p in hidden_matrices(model)}
    assert len(matrices) == 2 * 4  # c_attn, c_proj, c_fc, mlp c_proj per block
    assert {id(p) for g in muon.param_groups for p in g["params"]} == matrices
    rest = {id(p) for g in adamw.param_groups for p in g["params"]}
    assert id(model.wte.weight) in rest and not rest & matrices
    assert len(rest) + len(matrices) == len(list(model.parameters()))
    set_lr(opt, 2e-3)  # the schedule sets both; Muon's at its ratio
    assert [g["lr"] for g in opt.param_groups] == [pytest.approx(6e-3), 2e-3, 2e-3]


def test_chained_optimizer_state_round_trips_into_a_fresh_one():
    torch.manual_seed(0)
    model = build_model("gpt", 64, 16, n_layer=1, n_head=2, n_embd=16)
    opt = build_optimizer(model, 1e-2, 0.1, (0.9, 0.95), torch.device("cpu"), "muon")
    x = torch.randint(0, 64, (4, 16))
    for _ in range(2):
        model(x, x)[1].backward()
        opt.step()
        opt.zero_grad()
    sd = opt.state_dict()
    assert sorted(sd["state"]) == list(range(len(list(model.parameters()))))
    fresh = build_optimizer(model, 1e-2, 0.1, (0.9, 0.95), torch.device("cpu"), "muon")
    fresh.load_state_dict(sd)
    again = fresh.state_dict()
    for idx, entry in sd["state"].items():
        for name, value in entry.items():
            assert torch.equal(torch.as_tensor(value), torch.as_tensor(again["state"][idx][name]))
    with pytest.raises(ValueError, match="does not match"):
        other = build_optimizer(
            build_model("gpt", 64, 16, n_layer=2, n_head=2, n_embd=16),
            1e-2,
            0.1,
            (0.9, 0.95),
            torch.device("cpu"),
            "muon",
        )
        other.load_state_dict(sd)


def test_one_muon_step_is_decay_then_the_orthogonalised_nesterov_direction_at_unit_rms():
    torch.manual_seed(0)
    w = torch.nn.Parameter(torch.randn(16, 48))
    before = w.detach().clone()
    g = torch.randn(16, 48)
    w.grad = g.clone()
    lr, ratio, wd, mu = 0.01, 2.0, 0.1, 0.9
    opt = Muon([w], lr=lr, momentum=mu, weight_decay=wd, lr_ratio=ratio)
    opt.step()
    # first step: buffer = g, Nesterov direction = g + mu * g, orthogonalised (scale-free)
    expected = before * (1 - lr * ratio * wd) - lr * ratio * 48**0.5 * orthogonalise((1 + mu) * g)
    assert torch.allclose(w.detach(), expected, atol=1e-6)
    step = (w.detach() - before * (1 - lr * ratio * wd)) / (lr * ratio)
    assert step.pow(2).mean().sqrt().item() == pytest.approx(1.0, abs=0.25)  # unit RMS before lr
    assert torch.equal(opt.state[w]["momentum_buffer"], g)
    with pytest.raises(ValueError, match="matrices only"):
        Muon([torch.nn.Parameter(torch.zeros(3))])
