"""The seq2seq interface and its two kinds: masks, loss, caches, save/load, the separate kind table."""

from __future__ import annotations

import random

import pytest
import torch

from arlm.errors import ConfigError, DataError
from arlm.models import build_model, list_kinds, save_model
from arlm.models.seq2seq import (
    SEQ2SEQ_KINDS,
    EncoderOutput,
    build_seq2seq,
    list_seq2seq_kinds,
    list_seq2seq_presets,
    load_seq2seq,
    make_batch,
    save_seq2seq,
)
from translation.toy import BOS, CASES, EOS, PAD, VOCAB, sample_pairs, small_model


def _batch(n: int = 5, seed: int = 0):
    pairs = sample_pairs(random.Random(seed), n, lo=2, hi=9)
    return make_batch([p[0] for p in pairs], [p[1] for p in pairs], PAD, BOS, EOS)


def test_kinds_have_their_own_table_and_presets():
    assert list_seq2seq_kinds() == ["transformer-seq2seq", "lstm-attn-seq2seq"]
    assert {"tiny", "small", "base"} <= set(list_seq2seq_presets("transformer-seq2seq"))
    assert "tiny" in list_seq2seq_presets("lstm-attn-seq2seq")
    # the decoder-only family is untouched: its kind list and builder do not know these kinds
    assert not set(SEQ2SEQ_KINDS) & set(list_kinds())
    with pytest.raises(ConfigError, match="unknown model kind 'transformer-seq2seq'"):
        build_model("transformer-seq2seq", 100, 16)
    with pytest.raises(ConfigError, match="valid kinds: transformer-seq2seq, lstm-attn-seq2seq"):
        build_seq2seq("gpt", 100)
    with pytest.raises(ConfigError, match="valid presets: tiny, small, base, big"):
        build_seq2seq("transformer-seq2seq/huge", 100)


def test_tiny_presets_build_with_defaults():
    for kind in list_seq2seq_kinds():
        model = build_seq2seq(kind, 4096)
        cfg = model.config
        assert cfg.label_smoothing == 0.1
        assert (cfg.bos_id, cfg.eos_id, cfg.pad_id) == (0, 0, 1)
        assert model.num_params() > 0 and model.flops_per_token() > 6 * 0.5 * model.num_params()
    tiny = build_seq2seq("transformer-seq2seq/tiny", 4096)
    assert tiny.lm_head.weight is tiny.tgt_embed.weight is tiny.src_embed.weight  # tied and shared
    # ~1M parameters besides the 4k x 128 embedding: a model that trains in minutes on 2 cores
    assert tiny.num_params() - tiny.tgt_embed.weight.numel() < 1.5e6


@pytest.mark.parametrize(
    "spec,overrides,needle",
    [
        ("transformer-seq2seq", {"d_model": 30, "n_head": 4}, "divisible by n_head"),
        ("transformer-seq2seq", {"positions": "alibi"}, "positions"),
        ("transformer-seq2seq", {"label_smoothing": 1.0}, "label_smoothing"),
        ("transformer-seq2seq", {"norm": "sandwich"}, "norm must be 'pre' or 'post'"),
        ("transformer-seq2seq", {"norm": "post", "positions": "learned"}, "positions='sinusoidal'"),
        ("transformer-seq2seq", {"eos_id": 5000}, "eos_id 5000 is outside"),
        ("transformer-seq2seq", {"n_layers": 3}, "unknown option"),
        ("lstm-attn-seq2seq", {"attention": "dot"}, "luong' or 'bahdanau"),
        ("lstm-attn-seq2seq", {"hidden_size": 33}, "must be even"),
    ],
)
def test_bad_configs_are_rejected_with_the_field_named(spec, overrides, needle):
    with pytest.raises(ConfigError, match=needle):
        build_seq2seq(spec, 4096, **overrides)


def test_separate_source_vocabulary_gets_its_own_embedding():
    model = build_seq2seq("transformer-seq2seq", 100, src_vocab_size=300, d_model=32, n_head=4)
    assert model.src_embed is not model.tgt_embed and model.src_embed.num_embeddings >= 300
    src = torch.randint(2, 300, (2, 7))
    logits, _ = model(src, torch.zeros(2, 3, dtype=torch.long))
    assert logits.shape == (2, 3, 100)


@pytest.mark.parametrize("case", CASES)
def test_padding_is_masked_from_attention_and_loss(case):
    model = small_model(case).eval()
    b = _batch()
    logits, loss = model(b.src, b.tgt_in, b.tgt_out, b.src_mask)
    assert logits.shape == (*b.tgt_in.shape, VOCAB) and torch.isfinite(loss)
    # what padding holds changes nothing: source padding with random ids, target inputs past the end
    src2, tin2 = b.src.clone(), b.tgt_in.clone()
    src2[~b.src_mask] = torch.randint(2, VOCAB, (int((~b.src_mask).sum()),))
    pad_t = b.tgt_out == -1
    tin2[pad_t] = torch.randint(2, VOCAB, (int(pad_t.sum()),))
    logits2, loss2 = model(src2, tin2, b.tgt_out, b.src_mask)
    real = ~pad_t
    torch.testing.assert_close(logits2[real], logits[real], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(loss2, loss, atol=1e-6, rtol=1e-6)
    # each row scored alone, unpadded, gives the same logits (rows differ in length)
    for i in range(b.src.size(0)):
        s = b.src[i : i + 1, : int(b.src_mask[i].sum())]
        t = int(real[i].sum())
        alone, _ = model(s, b.tgt_in[i : i + 1, :t])
        torch.testing.assert_close(alone[0], logits[i, :t], atol=1e-5, rtol=1e-5)


def test_loss_is_label_smoothed_mean_over_real_target_tokens():
    model = small_model("transformer").eval()
    b = _batch()
    with torch.no_grad():
        logits, loss = model(b.src, b.tgt_in, b.tgt_out, b.src_mask)
    keep = b.tgt_out != -1
    flat, y = logits[keep], b.tgt_out[keep]
    expected = torch.nn.functional.cross_entropy(flat, y, label_smoothing=0.1)
    torch.testing.assert_close(loss, expected)
    nll, n = model.token_nll(b.src, b.tgt_in, b.tgt_out, b.src_mask)
    assert n == int(keep.sum())
    assert nll / n == pytest.approx(float(torch.nn.functional.cross_entropy(flat, y)), rel=1e-5)


@pytest.mark.parametrize("case", CASES)
def test_cached_steps_equal_the_full_decoder(case):
    model = small_model(case).eval()
    b = _batch()
    with torch.no_grad():
        full = model.decode(b.tgt_in, model.encode(b.src, b.src_mask))
        state = model.init_state(model.encode(b.src, b.src_mask))
        first, state = model.step(b.tgt_in[:, :2], state)  # several tokens at once, then one by one
        steps = [first]
        for t in range(2, b.tgt_in.size(1)):
            out, state = model.step(b.tgt_in[:, t : t + 1], state)
            steps.append(out)
        # reordering the state (beam search) keeps each row's own cache
        index = torch.tensor([2, 0, 0])
        sub = model.init_state(model.encode(b.src, b.src_mask))
        sub = model.reorder_state(sub, index)
        sub_logits, _ = model.step(b.tgt_in.index_select(0, index), sub)
    torch.testing.assert_close(torch.cat(steps, dim=1), full, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(sub_logits, full.index_select(0, index), atol=1e-5, rtol=1e-5)


def test_encoder_output_select_keeps_rows():
    model = small_model("lstm-luong").eval()
    b = _batch()
    mem = model.encode(b.src, b.src_mask)
    sel = mem.select(torch.tensor([1, 1]))
    assert isinstance(sel, EncoderOutput) and sel.states.shape[0] == 2 and sel.final[0].shape[1] == 2
    torch.testing.assert_close(sel.states[0], mem.states[1])


def test_too_long_inputs_are_refused_with_the_limit_named():
    model = small_model("transformer")
    with pytest.raises(DataError, match="longer than this model's limit of 24 tokens \\(max_source_len\\)"):
        model(torch.ones(1, 25, dtype=torch.long) + 1, torch.zeros(1, 2, dtype=torch.long))
    with pytest.raises(DataError, match="limit of 24 tokens \\(block_size\\)"):
        model(torch.ones(1, 5, dtype=torch.long) + 1, torch.zeros(1, 25, dtype=torch.long))
    with pytest.raises(DataError, match="all padding"):
        model(torch.full((1, 4), PAD), torch.zeros(1, 2, dtype=torch.long))


@pytest.mark.parametrize("case", ["transformer", "lstm-bahdanau"])
def test_save_and_load_round_trip(tmp_path, case):
    model = small_model(case).eval()
    save_seq2seq(model, tmp_path / "m")
    loaded = load_seq2seq(tmp_path / "m")
    assert loaded.kind == model.kind and loaded.config == model.config
    b = _batch()
    torch.testing.assert_close(
        loaded(b.src, b.tgt_in, None, b.src_mask)[0], model(b.src, b.tgt_in, None, b.src_mask)[0]
    )
    if model.config.tie_weights:
        assert loaded.lm_head.weight is loaded.tgt_embed.weight


def test_a_language_model_folder_is_not_a_translation_model(tmp_path):
    save_model(build_model("gpt", 100, 16, n_layer=1, n_head=2, n_embd=16), tmp_path / "lm")
    with pytest.raises(DataError, match="'gpt' language model, not a translation model"):
        load_seq2seq(tmp_path / "lm")
