"""Optimizers: AdamW, or Muon for the hidden matrices with AdamW for the rest.

AdamW (the default) uses decoupled weight decay on matrices only: decay pulls weights towards zero,
and on gains and biases (norms, ``bias``) that only fights the model, so parameters with fewer than
2 dimensions get none. Embedding matrices are 2-D and DO get decay, as in nanoGPT/GPT-2 (the GPT's
embedding is also its tied output matrix). On CUDA the fused kernel updates every parameter in one
launch.

Muon (``TrainConfig(optimizer="muon")``) replaces AdamW on the weights of the ``nn.Linear`` layers
inside the network (attention and MLP matrices): each step's Nesterov momentum is orthogonalised by
a few Newton-Schulz iterations, so every direction of the matrix moves by about the same amount,
then scaled by sqrt(max(rows, cols)) to an update of RMS 1, times the learning rate. That rate is
the schedule's (AdamW's) times ``muon_lr_ratio``: 0.2 would match a typical AdamW update's RMS (Liu
et al., "Muon is Scalable for LLM Training", 2025); the default 1.0 is from the sweep in
benchmarks/RESULTS.md (on a 128-wide GPT 2.0 was best and 1.0 close, 4.0 too much; wider models
tend to want less). Weight decay is decoupled, as in AdamW. Embeddings, the output head, gains and
biases, and recurrent cells stay on AdamW. Both live in one ``ChainedOptimizer`` so the loop, the
schedule and checkpoints see a single optimizer.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch import nn

from arlm.training.config import OPTIMIZERS

# Coefficients of the quintic Newton-Schulz iteration X <- aX + (bA + cA^2)X, A = XX^T, chosen (by
# K. Jordan, 2024) to push all singular values of a normalised matrix towards ~1 in five steps.
NS_COEFFS = (3.4445, -4.7750, 2.0315)
NS_STEPS = 5


def param_groups(params: Iterable[nn.Parameter], weight_decay: float) -> list[dict]:
    decay, no_decay = [], []
    for p in params:
        if not p.requires_grad:
            continue
        (decay if p.dim() >= 2 else no_decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def hidden_matrices(model: nn.Module) -> list[nn.Parameter]:
    """Weights of the ``nn.Linear`` layers inside the network: not the embedding, not the output
    head (``lm_head``, often tied to the embedding), not gains, biases or recurrent cells."""
    head = getattr(model, "lm_head", None)
    skip = {id(p) for m in model.modules() if isinstance(m, nn.Embedding) or m is head for p in m.parameters()}
    out = []
    for m in model.modules():
        if isinstance(m, nn.Linear) and m.weight.requires_grad and id(m.weight) not in skip:
            skip.add(id(m.weight))  # a weight shared by two layers is listed once
            out.append(m.weight)
    return out


def orthogonalise(g: torch.Tensor, steps: int = NS_STEPS) -> torch.Tensor:
    """An approximately orthogonal matrix with g's singular vectors (U V^T of g's SVD, with the
    singular values pushed into roughly [0.7, 1.2]): bf16 on GPUs, float32 on CPUs."""
    a, b, c = NS_COEFFS
    x = g.to(torch.bfloat16 if g.is_cuda else torch.float32)
    wide = x.size(0) <= x.size(1)
    if not wide:  # iterate on the smaller Gram matrix
        x = x.mT
    x = x / (x.norm() + 1e-7)
    for _ in range(steps):
        gram = x @ x.mT
        x = a * x + (b * gram + c * gram @ gram) @ x
    if not wide:
        x = x.mT
    return x.to(g.dtype)


class Muon(torch.optim.Optimizer):
    """Momentum-orthogonalised updates for 2-D weights; see the module docstring."""

    def __init__(
        self,
        params,
        lr: float = 1e-3,
        momentum: float = 0.95,
        weight_decay: float = 0.0,
        nesterov: bool = True,
        lr_ratio: float = 1.0,
    ):
        super().__init__(
            params,
            dict(lr=lr * lr_ratio, momentum=momentum, weight_decay=weight_decay, nesterov=nesterov, lr_ratio=lr_ratio),
        )
        for group in self.param_groups:
            for p in group["params"]:
                if p.dim() != 2:
                    raise ValueError(f"Muon updates matrices only, got a parameter of shape {tuple(p.shape)}")

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            lr, mu, wd = group["lr"], group["momentum"], group["weight_decay"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if "momentum_buffer" not in state:
                    state["momentum_buffer"] = torch.zeros_like(p)
                buf = state["momentum_buffer"]
                buf.mul_(mu).add_(p.grad)
                direction = p.grad.add(buf, alpha=mu) if group["nesterov"] else buf
                update = orthogonalise(direction)
                if wd:
                    p.mul_(1.0 - lr * wd)
                p.add_(update, alpha=-lr * max(p.shape) ** 0.5)  # unit-RMS update times lr
        return loss


class ChainedOptimizer:
    """Several optimizers over disjoint parameters, seen as one: ``param_groups`` is all of their
    groups (so a learning-rate schedule sets them all), ``state_dict`` numbers the parameters
    consecutively across them, as a single torch optimizer would."""

    def __init__(self, optimizers: list[torch.optim.Optimizer]):
        self.optimizers = optimizers

    @property
    def param_groups(self) -> list[dict[str, Any]]:
        return [g for opt in self.optimizers for g in opt.param_groups]

    def step(self) -> None:
        for opt in self.optimizers:
            opt.step()

    def zero_grad(self, set_to_none: bool = True) -> None:
        for opt in self.optimizers:
            opt.zero_grad(set_to_none=set_to_none)

    def state_dict(self) -> dict[str, Any]:
        state: dict[int, Any] = {}
        groups: list[dict[str, Any]] = []
        offset = 0
        for opt in self.optimizers:
            sd = opt.state_dict()
            for idx, entry in sd["state"].items():
                state[idx + offset] = entry
            for g in sd["param_groups"]:
                groups.append({**g, "params": [i + offset for i in g["params"]]})
            offset += sum(len(g["params"]) for g in sd["param_groups"])
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, sd: dict[str, Any]) -> None:
        """Checks every optimizer's slice before loading any, so a mismatch changes nothing."""
        groups = list(sd["param_groups"])
        slices, offset = [], 0
        for opt in self.optimizers:
            mine, groups = groups[: len(opt.param_groups)], groups[len(opt.param_groups) :]
            n = sum(len(g["params"]) for g in opt.param_groups)
            if len(mine) != len(opt.param_groups) or sum(len(g["params"]) for g in mine) != n:
                raise ValueError("optimizer state does not match this model's parameters")
            state = {int(i) - offset: v for i, v in sd["state"].items() if offset <= int(i) < offset + n}
            slices.append(
                {
                    "state": state,
                    "param_groups": [{**g, "params": [int(i) - offset for i in g["params"]]} for g in mine],
                }
            )
            offset += n
        if groups:
            raise ValueError("optimizer state has more parameter groups than this optimizer")
        for opt, part in zip(self.optimizers, slices):
            opt.load_state_dict(part)


def build_optimizer(
    model: nn.Module,
    lr: float,
    weight_decay: float,
    betas: tuple[float, float],
    device: torch.device,
    kind: str = "adamw",
    muon_momentum: float = 0.95,
    muon_lr_ratio: float = 1.0,
):
    """AdamW over every parameter, or (``kind="muon"``) Muon over ``hidden_matrices`` chained with
    AdamW over the rest."""
    if kind not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {kind!r}; valid: {', '.join(OPTIMIZERS)}")
    matrices = hidden_matrices(model) if kind == "muon" else []
    ids = {id(p) for p in matrices}
    rest = [p for p in model.parameters() if id(p) not in ids]
    adamw = torch.optim.AdamW(
        param_groups(rest, weight_decay), lr=lr, betas=tuple(betas), fused=device.type == "cuda" or None
    )
    if not matrices:
        return adamw
    muon = Muon(matrices, lr=lr, momentum=muon_momentum, weight_decay=weight_decay, lr_ratio=muon_lr_ratio)
    return ChainedOptimizer([muon, adamw])


def set_lr(optimizer, lr: float) -> None:
    """Set the schedule's learning rate; groups with an ``lr_ratio`` (Muon's) get lr times it."""
    for group in optimizer.param_groups:
        group["lr"] = lr * group.get("lr_ratio", 1.0)


def apply_config(optimizer, momentum: float, lr_ratio: float) -> None:
    """Re-apply the run's Muon settings after a checkpoint's optimizer state was loaded (the
    state carries the values it was saved with; the config of the resumed run wins)."""
    parts = optimizer.optimizers if isinstance(optimizer, ChainedOptimizer) else [optimizer]
    for opt in parts:
        if isinstance(opt, Muon):
            for group in opt.param_groups:
                group["momentum"], group["lr_ratio"] = momentum, lr_ratio
