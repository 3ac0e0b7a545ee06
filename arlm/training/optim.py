"""AdamW with decoupled weight decay on matrices only.

Weight decay pulls weights towards zero; on gains and biases (norms, ``bias``) that only fights the
model, so parameters with fewer than 2 dimensions get none. Embedding matrices are 2-D and DO
get decay, as in nanoGPT/GPT-2 (the GPT's embedding is also its tied output matrix). On CUDA the
fused kernel updates every parameter in one launch.
"""

from __future__ import annotations

import torch


def param_groups(model: torch.nn.Module, weight_decay: float) -> list[dict]:
    decay, no_decay = [], []
    for p in model.parameters():  # parameters() yields tied tensors once
        if not p.requires_grad:
            continue
        (decay if p.dim() >= 2 else no_decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay},
            {"params": no_decay, "weight_decay": 0.0}]


def build_optimizer(model: torch.nn.Module, lr: float, weight_decay: float,
                    betas: tuple[float, float], device: torch.device) -> torch.optim.AdamW:
    fused = device.type == "cuda"
    return torch.optim.AdamW(param_groups(model, weight_decay), lr=lr, betas=tuple(betas),
                             fused=fused or None)


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr
