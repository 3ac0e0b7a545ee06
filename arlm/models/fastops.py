"""CPU fast paths for the three training ops that cost the most besides the matmuls: the
cross-entropy over the vocabulary, dropout, and attention with dropout.

Each function here computes what its ``torch.nn.functional`` namesake computes, for the arguments
it takes, and falls back to the namesake wherever the fast path does not apply (CUDA,
``torch.compile`` for the loss, no dropout, arguments outside the fast path's reach), so a model
calls these and nothing else changes. Differences: dropout's probability is rounded as below, and
its random masks are other draws of the same generator.

Why, measured on the 2-core CPU machine (``benchmarks/train_ops.py`` prints the table): in a
training step of ``transformer-seq2seq/tiny`` (4,096-token batches, vocabulary 4,096) a quarter of
the time went to

- ``F.cross_entropy``: its log-softmax backward alone took more time than its forward and the
  label smoothing together. :func:`cross_entropy` computes the loss from one log-sum-exp per row and
  its gradient ``softmax - smoothed one-hot`` in place, chunk by chunk of rows (16 MiB at a 4,096
  vocabulary), with no whole-tensor temporaries;
- dropout's ``bernoulli_``, at least one Mersenne-Twister draw per element. :func:`dropout` cuts
  four 16-bit lanes out of each 64-bit draw of the same generator (so ``torch.manual_seed`` and the
  saved RNG state govern it, and a resumed run stays bit-exact); the drop probability is thereby
  rounded to a multiple of 1/65,536 (0.1 becomes 0.100006);
- ``F.scaled_dot_product_attention`` with ``dropout_p > 0``, which on a CPU runs its reference math
  path with ``bernoulli_`` dropout. :func:`attention` runs the same math with :func:`dropout`: in
  float32 whatever the inputs' dtype or autocast, a row with no key to attend to giving zeros.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import nn

_CE_CHUNK_ROWS = 1024  # rows of logits per chunk: 1,024 x 4,096 float32 is 16 MiB
_LANES = 65536  # 16-bit lanes of the dropout draw
_enabled = True  # off inside disabled()


@contextmanager
def disabled() -> Iterator[None]:
    """Inside this block every function here is its ``torch.nn.functional`` namesake (to compare)."""
    global _enabled
    before, _enabled = _enabled, False
    try:
        yield
    finally:
        _enabled = before


def _fast(t: torch.Tensor) -> bool:
    return _enabled and t.device.type == "cpu"


class _SmoothedCrossEntropy(torch.autograd.Function):
    """Sum over rows of ``logsumexp(x) - (1 - eps) x[target] - eps mean(x)`` (targets equal to
    ``ignore_index`` contribute nothing); the gradient is ``softmax(x) - (1 - eps) onehot - eps / V``."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, target: torch.Tensor, ignore_index: int, eps: float):
        valid = target != ignore_index
        tgt = torch.where(valid, target, 0)
        lse = torch.empty(x.size(0), dtype=x.dtype, device=x.device)
        for s in range(0, x.size(0), _CE_CHUNK_ROWS):
            torch.logsumexp(x[s : s + _CE_CHUNK_ROWS], dim=1, out=lse[s : s + _CE_CHUNK_ROWS])
        per_row = lse - (1.0 - eps) * x.gather(1, tgt[:, None]).squeeze(1)
        if eps:
            per_row = per_row - eps * x.mean(dim=1)
        ctx.save_for_backward(x, tgt, valid, lse)
        ctx.eps = eps
        return torch.where(valid, per_row, 0.0).sum()

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_out: torch.Tensor):
        x, tgt, valid, lse = ctx.saved_tensors
        eps = ctx.eps
        V = x.size(1)
        scale = torch.where(valid, grad_out, 0.0).to(x.dtype)
        grad = torch.empty_like(x)
        for s in range(0, x.size(0), _CE_CHUNK_ROWS):
            e = s + _CE_CHUNK_ROWS
            g = grad[s:e]
            torch.sub(x[s:e], lse[s:e, None], out=g)
            g.exp_()
            if eps:
                g.sub_(eps / V)
            g.scatter_add_(1, tgt[s:e, None], torch.full((g.size(0), 1), eps - 1.0, dtype=g.dtype, device=g.device))
            g.mul_(scale[s:e, None])
        return grad, None, None, None


def cross_entropy(
    logits: torch.Tensor,
    target: torch.Tensor,
    *,
    ignore_index: int = -100,
    label_smoothing: float = 0.0,
    reduction: str = "mean",
) -> torch.Tensor:
    """``F.cross_entropy(logits, target, ...)``; with 2-D float ``logits`` [N, V], class ``target``
    [N] and ``reduction`` "mean" (over the targets that are not ``ignore_index``) or "sum", the
    same value and gradient computed faster on a CPU."""
    fast = (
        _fast(logits)
        and not torch.compiler.is_compiling()  # its chunked out= kernels are eager code
        and logits.dim() == 2
        and logits.dtype in (torch.float32, torch.float64)
        and target.dim() == 1
        and not target.is_floating_point()  # class indices, not probabilities
        and reduction in ("mean", "sum")
        and 0.0 <= label_smoothing <= 1.0
    )
    if not fast:
        return F.cross_entropy(
            logits, target, ignore_index=ignore_index, label_smoothing=label_smoothing, reduction=reduction
        )
    total = _SmoothedCrossEntropy.apply(logits, target, ignore_index, float(label_smoothing))
    if reduction == "sum":
        return total
    return total / (target != ignore_index).sum()  # no valid target: 0 / 0 = nan, as F.cross_entropy


def _keep_mask(x: torch.Tensor, p: float) -> torch.Tensor:
    """A mask shaped like ``x``: 0 with probability ~``p``, else ``1 / (1 - p)``, from four 16-bit
    lanes of each 64-bit draw of torch's default generator."""
    n = x.numel()
    drop = round(p * _LANES)
    bits = torch.randint(-(2**63), 2**63 - 1, ((n + 3) // 4,), dtype=torch.int64, device=x.device)
    lanes = bits.view(torch.int16)[:n].view(x.shape)
    keep = lanes >= drop - _LANES // 2  # int16 lanes are uniform on [-32768, 32767]
    return keep.to(x.dtype).mul_(_LANES / (_LANES - drop))


def dropout(x: torch.Tensor, p: float, training: bool = True) -> torch.Tensor:
    """``F.dropout(x, p, training)``: zero each element with probability ``p`` and scale the rest by
    ``1 / (1 - p)``; on a CPU with the probability rounded to a multiple of 1/65,536."""
    if not training or p == 0.0:
        return x
    if not _fast(x) or not 0.0 < p < 1.0 or round(p * _LANES) == _LANES:
        return F.dropout(x, p, training)
    return x * _keep_mask(x, p)


class Dropout(nn.Module):
    """``nn.Dropout`` through :func:`dropout` (no state: checkpoints are unchanged)."""

    def __init__(self, p: float = 0.5):
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return dropout(x, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}"


def attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    attn_mask: torch.Tensor | None = None,
    dropout_p: float = 0.0,
    is_causal: bool = False,
) -> torch.Tensor:
    """``F.scaled_dot_product_attention`` (a boolean ``attn_mask``: True takes part); with dropout on
    a CPU, its math with :func:`dropout` on the attention weights, in float32 (as SDPA's math path)."""
    if dropout_p == 0.0 or not _fast(q) or (attn_mask is not None and attn_mask.dtype != torch.bool):
        return F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, dropout_p=dropout_p, is_causal=is_causal)
    dtype = q.dtype
    with torch.autocast(q.device.type, enabled=False):
        q, k, v = q.float(), k.float(), v.float()
        scores = (q * q.size(-1) ** -0.5) @ k.transpose(-2, -1)
        if is_causal:
            T, S = q.size(-2), k.size(-2)
            causal = torch.ones(T, S, dtype=torch.bool, device=q.device).tril()
            attn_mask = causal if attn_mask is None else attn_mask & causal
        if attn_mask is not None:
            scores = scores.masked_fill(~attn_mask, float("-inf"))
        weights = scores.softmax(dim=-1)
        if attn_mask is not None:  # a query with no key to attend to gets zeros, not NaN (as SDPA)
            empty = ~attn_mask.any(dim=-1, keepdim=True)
            if empty.any():
                weights = weights.masked_fill(empty, 0.0)
        return (dropout(weights, dropout_p) @ v).to(dtype)
