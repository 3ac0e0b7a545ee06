"""``arlm.models.fastops``: the CPU fast paths mean what their ``torch.nn.functional`` namesakes mean.

- ``cross_entropy``: the same loss and gradient as ``F.cross_entropy`` (label smoothing, ignored
  targets, mean and sum, float32 and float64; no valid target gives nan as torch does);
- ``dropout``: the drop fraction and the kept scale, the expectation kept, the default generator
  governing it (same seed, same mask), identity in eval mode, the gradient through the same mask;
- ``attention``: ``F.scaled_dot_product_attention``'s math and gradient (padding mask, causal,
  both; a query with no key gives zeros), in float32 under bf16 autocast, dropping weights.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from arlm.models import fastops


def _logits(n: int = 300, v: int = 517, dtype=torch.float32, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    x = (torch.randn(n, v, generator=g) * 3).to(dtype)
    t = torch.randint(0, v, (n,), generator=g)
    t[::7] = -1
    return x, t


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("eps", [0.0, 0.1, 0.3])
def test_cross_entropy_equals_torch_in_value_and_gradient(eps, reduction, dtype):
    x, t = _logits(dtype=dtype)
    a = x.clone().requires_grad_()
    b = x.clone().requires_grad_()
    ref = F.cross_entropy(a, t, ignore_index=-1, label_smoothing=eps, reduction=reduction)
    got = fastops.cross_entropy(b, t, ignore_index=-1, label_smoothing=eps, reduction=reduction)
    (ref * 1.7).backward()
    (got * 1.7).backward()
    tol = 1e-5 if dtype == torch.float32 else 1e-12
    assert torch.allclose(got.detach(), ref.detach(), rtol=tol, atol=tol)
    assert torch.allclose(b.grad, a.grad, rtol=1e-4 if dtype == torch.float32 else 1e-10, atol=tol)
    assert torch.count_nonzero(b.grad[::7]) == 0  # ignored rows get no gradient


def test_cross_entropy_spans_several_chunks():
    x, t = _logits(n=fastops._CE_CHUNK_ROWS * 2 + 5, v=64)
    a, b = x.clone().requires_grad_(), x.clone().requires_grad_()
    F.cross_entropy(a, t, ignore_index=-1, label_smoothing=0.1).backward()
    fastops.cross_entropy(b, t, ignore_index=-1, label_smoothing=0.1).backward()
    assert torch.allclose(b.grad, a.grad, atol=1e-7)


def test_cross_entropy_with_no_valid_target_is_nan_as_torch():
    x, _ = _logits(n=4)
    t = torch.full((4,), -1)
    assert math.isnan(float(F.cross_entropy(x, t, ignore_index=-1)))
    assert math.isnan(float(fastops.cross_entropy(x, t, ignore_index=-1)))
    assert float(fastops.cross_entropy(x, t, ignore_index=-1, reduction="sum")) == 0.0


def test_cross_entropy_on_strided_logits_and_other_arguments():
    x, t = _logits(n=40, v=70)
    wide = x[:, :64]  # the models slice their padded vocabulary off like this: not contiguous
    a, b = wide.detach().clone().requires_grad_(), wide.detach().requires_grad_()
    F.cross_entropy(a, t.clamp(max=63), ignore_index=-1, label_smoothing=0.1).backward()
    fastops.cross_entropy(b, t.clamp(max=63), ignore_index=-1, label_smoothing=0.1).backward()
    assert torch.allclose(b.grad, a.grad, atol=1e-7)
    # what the fast path does not take goes to torch: per-row losses, probability targets
    rows = fastops.cross_entropy(x, t, ignore_index=-1, reduction="none")
    assert rows.shape == (40,) and torch.allclose(rows, F.cross_entropy(x, t, ignore_index=-1, reduction="none"))
    probs = torch.softmax(torch.randn(40, 70), dim=-1)
    assert torch.allclose(fastops.cross_entropy(x, probs), F.cross_entropy(x, probs))


def test_dropout_drops_p_and_keeps_the_expectation():
    x = torch.ones(1_000_000)
    for p in (0.1, 0.5):
        torch.manual_seed(1)
        y = fastops.dropout(x, p)
        dropped = float((y == 0).float().mean())
        assert abs(dropped - p) < 0.003, (p, dropped)  # ~6 binomial standard deviations at 1e6
        kept = y[y != 0]
        assert torch.allclose(kept, torch.full_like(kept, 1 / (1 - round(p * 65536) / 65536)))
        assert abs(float(y.mean()) - 1.0) < 0.006


def test_dropout_follows_the_default_generator():
    x = torch.randn(4, 1000)
    torch.manual_seed(7)
    a = fastops.dropout(x, 0.1)
    torch.manual_seed(7)
    b = fastops.dropout(x, 0.1)
    c = fastops.dropout(x, 0.1)
    assert torch.equal(a, b)
    assert not torch.equal(b, c)
    state = torch.get_rng_state()
    d = fastops.dropout(x, 0.1)
    torch.set_rng_state(state)
    assert torch.equal(fastops.dropout(x, 0.1), d)  # a resumed run replays the same masks


def test_dropout_is_identity_when_off_and_its_gradient_is_the_mask():
    x = torch.randn(64, 32)
    assert fastops.dropout(x, 0.1, training=False) is x
    assert fastops.dropout(x, 0.0) is x
    module = fastops.Dropout(0.25)
    module.eval()
    assert module(x) is x
    assert "p=0.25" in repr(module)
    module.train()
    w = x.clone().requires_grad_()
    y = module(w)
    y.sum().backward()
    assert torch.allclose(w.grad, y.detach() / x)  # the kept scale where kept, 0 where dropped


@pytest.mark.parametrize("case", ["padding", "causal", "causal+padding"])
def test_attention_matches_sdpa(case):
    g = torch.Generator().manual_seed(3)
    q, k, v = (torch.randn(3, 2, 9, 8, generator=g) for _ in range(3))
    mask = None
    if "padding" in case:
        mask = torch.ones(3, 1, 1, 9, dtype=torch.bool)
        mask[1, ..., 6:] = False
    causal = "causal" in case
    ref_mask = mask
    if causal and mask is not None:  # SDPA takes one or the other: merge them for the reference
        ref_mask = mask & torch.ones(9, 9, dtype=torch.bool).tril()
    ref = F.scaled_dot_product_attention(q, k, v, attn_mask=ref_mask, is_causal=causal and mask is None)
    # a probability that rounds to no drop at all runs the fast path's math with a mask of ones
    got = fastops.attention(q, k, v, attn_mask=mask, dropout_p=1e-9, is_causal=causal)
    assert torch.allclose(got, ref, atol=1e-6)


def test_attention_dropout_drops_attention_weights():
    g = torch.Generator().manual_seed(4)
    q, k = (torch.randn(2, 2, 5, 4, generator=g) for _ in range(2))
    v = torch.eye(5).expand(2, 2, 5, 5)  # the output is the (dropped) attention weights themselves
    torch.manual_seed(0)
    w = fastops.attention(q, k, v, dropout_p=0.5)
    full = torch.softmax(q @ k.transpose(-2, -1) / 2, dim=-1)
    dropped = w == 0
    assert dropped.any() and (~dropped).any()
    assert torch.allclose(w[~dropped], full[~dropped] * 2, atol=1e-6)


def test_disabled_is_torch_exactly():
    x, t = _logits(n=8)
    with fastops.disabled():
        torch.manual_seed(2)
        a = fastops.dropout(x, 0.2)
        torch.manual_seed(2)
        assert torch.equal(a, F.dropout(x, 0.2))
    torch.manual_seed(2)
    assert not torch.equal(fastops.dropout(x, 0.2), a)  # on again after the block


def test_cross_entropy_without_autograd():
    x, t = _logits(n=50)
    ref = F.cross_entropy(x, t, ignore_index=-1, label_smoothing=0.1)
    with torch.inference_mode():
        got = fastops.cross_entropy(x, t, ignore_index=-1, label_smoothing=0.1)
    assert torch.allclose(got, ref, atol=1e-6)


def test_attention_gradient_matches_sdpa():
    g = torch.Generator().manual_seed(5)
    base = [torch.randn(2, 2, 7, 8, generator=g) for _ in range(3)]
    mask = torch.ones(2, 1, 1, 7, dtype=torch.bool)
    mask[0, ..., 5:] = False
    w = torch.randn(2, 2, 7, 8, generator=g)
    grads = []
    for fn in (
        lambda q, k, v: F.scaled_dot_product_attention(q, k, v, attn_mask=mask),
        lambda q, k, v: fastops.attention(q, k, v, attn_mask=mask, dropout_p=1e-9),
    ):
        qkv = [t.clone().requires_grad_() for t in base]
        (fn(*qkv) * w).sum().backward()
        grads.append([t.grad for t in qkv])
    for ref, got in zip(*grads):
        assert torch.allclose(got, ref, atol=1e-5)


def test_attention_row_without_keys_is_zero_as_sdpa():
    q, k, v = (torch.randn(1, 1, 3, 4) for _ in range(3))
    mask = torch.ones(1, 1, 3, 3, dtype=torch.bool)
    mask[..., 1, :] = False  # the second query may attend to nothing
    ref = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    got = fastops.attention(q, k, v, attn_mask=mask, dropout_p=1e-9)
    assert torch.equal(got[..., 1, :], torch.zeros(1, 1, 4)) and torch.allclose(got, ref, atol=1e-6)


def test_attention_under_bf16_autocast_computes_in_float32():
    g = torch.Generator().manual_seed(6)
    q, k, v = (torch.randn(2, 4, 16, 8, generator=g).to(torch.bfloat16) for _ in range(3))
    exact = F.scaled_dot_product_attention(q.float(), k.float(), v.float())  # float32 on the same inputs
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got = fastops.attention(q, k, v, dropout_p=1e-9)
    assert got.dtype == torch.bfloat16
    # only the output's rounding to bf16 (8 bits of mantissa) is left: not bf16 scores and softmax
    assert torch.allclose(got.float(), exact, rtol=2**-8, atol=2**-8)


def test_dropout_probability_that_rounds_to_one_falls_back_to_torch():
    y = fastops.dropout(torch.ones(10_000), 1 - 1e-6)  # rounds to 65,536/65,536: torch's own dropout
    assert torch.isfinite(y).all() and float((y == 0).float().mean()) > 0.99
