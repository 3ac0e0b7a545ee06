"""The model family behind one interface: registry, cache correctness, save/load, sizes."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from arlm.errors import ArlmError, ConfigError, DataError, NotFoundError
from arlm.models import build_model, list_kinds, list_presets, load_model, save_model
from training.token_fixture import pattern_tokens

V = 70  # not a multiple of 64: the padded-vocabulary path is exercised
SMALL = {
    "gpt": dict(n_layer=2, n_head=2, n_embd=32, dropout=0.1),
    "gpt-rope": dict(n_layer=2, n_head=2, n_embd=32, dropout=0.1, positions="rope"),
    "rnn": dict(n_embd=32, hidden_size=32, n_layer=2),
    "lstm": dict(n_embd=32, hidden_size=48, n_layer=2),  # untied head
    "gru": dict(n_embd=32, hidden_size=32, n_layer=2),
    "lstm-attn": dict(n_embd=32, hidden_size=32, n_layer=2, n_head=4),
    "ngram": dict(order=3),
}
CASES = list(SMALL)


def make(case: str, block_size: int = 32):
    kind = "gpt" if case.startswith("gpt") else case
    torch.manual_seed(0)
    model = build_model(kind, V, block_size, **SMALL[case])
    if not model.trainable:
        model.fit(pattern_tokens(5000, V))
    return model.eval()


def test_registry_lists_every_kind_with_presets():
    assert list_kinds() == ["ngram", "rnn", "lstm", "gru", "lstm-attn", "gpt"]
    for kind in list_kinds():
        assert "tiny" in list_presets(kind)
    assert {"tiny", "small", "baby", "gpt2"} <= set(list_presets("gpt"))


@pytest.mark.parametrize(
    "spec,needle",
    [
        ("transformer", "valid kinds: ngram, rnn"),
        ("gpt/huge", "valid presets: tiny, small, baby, gpt2"),
        ("", "KIND[/PRESET]"),
    ],
)
def test_unknown_kind_or_preset_lists_the_valid_ones(spec, needle):
    with pytest.raises(ConfigError, match=needle.replace("[", r"\[").replace("]", r"\]")):
        build_model(spec, 100, 16)


@pytest.mark.parametrize(
    "spec,overrides,needle",
    [
        ("gpt", dict(n_embd=30, n_head=4), "divisible by n_head"),
        ("gpt", dict(positions="alibi"), "positions"),
        ("gpt", dict(dropout=1.5), "dropout"),
        ("gpt", dict(n_layers=3), "unknown option"),
        ("lstm", dict(hidden_size=0), "hidden_size"),
        ("lstm-attn", dict(hidden_size=30, n_head=4), "divisible"),
        ("ngram", dict(order=0), "order"),
        ("ngram", dict(order=9), "too high"),
    ],
)
def test_invalid_model_configs_are_config_errors(spec, overrides, needle):
    with pytest.raises(ConfigError, match=needle):
        build_model(spec, 50257, 16, **overrides)


def test_presets_have_their_documented_sizes():
    with torch.device("meta"):
        gpt2 = build_model("gpt/gpt2", 50257)
        baby = build_model("gpt/baby", 65)
        tiny = build_model("gpt/tiny", 4096)
    assert gpt2.padded_vocab == 50304 and gpt2.config.block_size == 1024
    assert 124e6 < gpt2.num_params() < 125e6
    assert (
        baby.config.n_layer,
        baby.config.n_head,
        baby.config.n_embd,
        baby.config.block_size,
        baby.config.dropout,
    ) == (6, 6, 384, 256, 0.2)
    assert 0.8e6 < tiny.num_params() < 1.6e6
    expected = 6 * gpt2.num_params(non_embedding=True) + 12 * 12 * 12 * 64 * 1024
    assert gpt2.flops_per_token() == expected


@pytest.mark.parametrize("case", CASES)
def test_step_by_step_logits_equal_full_forward(case):
    """The KV cache / carried hidden state / n-gram history gives the same logits as a forward
    over the whole sequence, fed as a prompt chunk then one token at a time."""
    model = make(case)
    x = torch.randint(0, V, (3, 24), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        full, _ = model(x)
        state = model.init_state(3)
        chunks = []
        logits, state = model.step(x[:, :7], state)
        chunks.append(logits)
        for t in range(7, 24):
            logits, state = model.step(x[:, t : t + 1], state)
            chunks.append(logits)
    stepped = torch.cat(chunks, dim=1)
    assert full.shape == (3, 24, V) and stepped.shape == full.shape
    torch.testing.assert_close(stepped, full, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("case", CASES)
def test_reorder_state_selects_batch_rows(case):
    model = make(case)
    x = torch.randint(0, V, (3, 10), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        _, state = model.step(x, model.init_state(3))
        index = torch.tensor([2, 2, 0])
        state = model.reorder_state(state, index)
        nxt = torch.randint(0, V, (1, 1)).expand(3, 1)
        got, _ = model.step(nxt, state)
        want, _ = model(torch.cat((x[index], nxt), dim=1))
    torch.testing.assert_close(got[:, -1], want[:, -1], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("case", CASES)
def test_save_load_round_trip(case, tmp_path):
    model = make(case)
    x = torch.randint(0, V, (2, 16))
    with torch.no_grad():
        before, _ = model(x)
    save_model(model, tmp_path / "m")
    assert (tmp_path / "m" / "model.safetensors").is_file()
    loaded = load_model(tmp_path / "m")
    assert loaded.kind == model.kind and loaded.config == model.config
    with torch.no_grad():
        after, _ = loaded(x)
    assert torch.equal(before, after)
    if case.startswith("gpt"):
        assert loaded.lm_head.weight is loaded.wte.weight  # tied after loading


@pytest.mark.parametrize("case", CASES)
def test_loss_is_mean_cross_entropy_and_ignores_minus_one(case):
    model = make(case)
    x = torch.randint(0, V, (2, 12))
    y = torch.randint(0, V, (2, 12))
    y[0, :5] = -1
    with torch.no_grad():
        logits, loss = model(x, y)
    keep = y != -1
    manual = -F.log_softmax(logits.float(), -1)[keep].gather(1, y[keep].unsqueeze(1)).mean()
    assert math.isclose(float(loss), float(manual), rel_tol=1e-5)


def test_load_model_errors_are_clear(tmp_path):
    with pytest.raises(NotFoundError):
        load_model(tmp_path / "nothing")
    model = make("gpt")
    save_model(model, tmp_path / "m")
    (tmp_path / "m" / "model.safetensors").write_bytes(b"\x00garbage")
    with pytest.raises(DataError, match="model.safetensors"):
        load_model(tmp_path / "m")
    (tmp_path / "m" / "model_config.json").write_text('{"kind": "mamba", "config": {}}')
    with pytest.raises(ArlmError, match="mamba"):
        load_model(tmp_path / "m")


@pytest.mark.parametrize("case", ["gpt-rope", "lstm", "gru", "rnn", "lstm-attn"])
def test_bf16_autocast_forward_backward_on_cpu(case):
    """The GPU's bf16 path, exercised on CPU: finite loss and gradients, close to float32."""
    model = make(case).train()
    model.eval()  # no dropout, so the two passes are comparable
    x = torch.randint(0, V, (2, 16))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        logits, loss = model(x, x)
    loss.backward()
    _, ref = model(x, x)
    assert torch.isfinite(loss) and abs(loss.item() - ref.item()) < 0.05
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


def test_ngram_conditional_probabilities_sum_to_one():
    for order in (1, 2, 4):
        model = build_model("ngram", V, 32, order=order).fit(pattern_tokens(8000, V))
        contexts = torch.randint(0, V, (50, order - 1))
        contexts[:10] = torch.from_numpy(pattern_tokens(200, V)[: order - 1].astype(np.int64))  # seen
        lengths = torch.randint(0, order, (50,))
        probs = model.probs(contexts, lengths)
        assert (probs > 0).all()
        torch.testing.assert_close(probs.sum(-1), torch.ones(50, dtype=probs.dtype), atol=2e-6, rtol=0)


def test_ngram_matches_hand_computed_kneser_ney_bigram():
    # corpus "a b a b a c" over ids a=0 b=1 c=2, V=3, fixed discount 0.5
    model = build_model("ngram", 3, 8, order=2, discount=0.5).fit(np.array([0, 1, 0, 1, 0, 2]))
    # continuation counts: N1+(. a)=1 (b a), N1+(. b)=1 (a b), N1+(. c)=1 (a c); total 3, 3 types
    p1 = {w: (1 - 0.5) / 3 + 0.5 * 3 / 3 * (1 / 3) for w in range(3)}
    # bigram after a: c(a b)=2, c(a c)=1, c(a .)=3, N1+(a .)=2
    gamma = 0.5 * 2 / 3
    want = [gamma * p1[0], (2 - 0.5) / 3 + gamma * p1[1], (1 - 0.5) / 3 + gamma * p1[2]]
    got = model.probs(torch.tensor([[0]]), torch.tensor([1]))[0]
    torch.testing.assert_close(got, torch.tensor(want, dtype=got.dtype))


def test_context_limits():
    assert make("gpt").max_context == 32
    for case in ("rnn", "lstm", "gru", "lstm-attn", "ngram"):
        assert make(case).max_context is None


def test_ngram_is_not_trainable_and_rejects_out_of_vocab_tokens():
    model = build_model("ngram", 10, 8)
    assert model.trainable is False and list(model.parameters()) == []
    with pytest.raises(DataError, match="token ids"):
        model.fit(np.array([1, 2, 30]))
