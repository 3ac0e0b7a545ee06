"""Greedy and beam search over batches: beam 1 == greedy, alone == in a padded batch, padding
content changes nothing, cached == uncached, lengths relative to the source, limits refused."""

from __future__ import annotations

import random

import pytest
import torch

from arlm.errors import ConfigError, DataError
from arlm.models.seq2seq import source_batch
from arlm.translation.decode import DecodeConfig, beam_search, greedy_decode, output_limits, translate_ids
from translation.toy import CASES, EOS, PAD, VOCAB, sample_pairs, trained_model

SOURCES = [p[0] for p in sample_pairs(random.Random(7), 7, lo=1, hi=12)]


@pytest.fixture(scope="module", params=CASES)
def model(request):
    return trained_model(request.param)


def test_outputs_are_not_vacuous(model):
    """The trained fixture gives outputs of different lengths (else the tests below prove little)."""
    outs = translate_ids(model, SOURCES, DecodeConfig(num_beams=3))
    assert len({len(o) for o in outs}) >= 2 or len({tuple(o) for o in outs}) >= 3


@pytest.mark.parametrize("beams", [1, 4])
def test_alone_equals_inside_a_padded_batch(model, beams):
    cfg = DecodeConfig(num_beams=beams)
    batch = translate_ids(model, SOURCES, cfg)
    alone = [translate_ids(model, [s], cfg)[0] for s in SOURCES]
    assert batch == alone
    small_batches = translate_ids(model, SOURCES, DecodeConfig(num_beams=beams, batch_size=3))
    assert small_batches == batch


def test_beam_width_one_is_greedy(model):
    assert translate_ids(model, SOURCES, DecodeConfig(num_beams=1)) == translate_ids(
        model, SOURCES, DecodeConfig(num_beams=1, use_cache=False)
    )
    src, mask = source_batch(SOURCES, PAD, EOS)
    limits = output_limits(model, mask.sum(dim=1), DecodeConfig())
    with torch.inference_mode():
        greedy = greedy_decode(model, src, mask, limits)
        for lp in (0.0, 1.0, 2.0):  # the length penalty cannot change a single beam's choice
            assert beam_search(model, src, mask, limits, num_beams=1, length_penalty=lp) == greedy


@pytest.mark.parametrize("beams", [1, 3])
def test_padding_content_changes_no_output(model, beams):
    src, mask = source_batch(SOURCES, PAD, EOS)
    noisy = src.clone()
    g = torch.Generator().manual_seed(3)
    noisy[~mask] = torch.randint(2, VOCAB, (int((~mask).sum()),), generator=g)
    limits = output_limits(model, mask.sum(dim=1), DecodeConfig())
    with torch.inference_mode():
        if beams == 1:
            assert greedy_decode(model, noisy, mask, limits) == greedy_decode(model, src, mask, limits)
        else:
            assert beam_search(model, noisy, mask, limits, beams) == beam_search(model, src, mask, limits, beams)


@pytest.mark.parametrize("beams", [1, 4])
def test_cached_equals_uncached(model, beams):
    cached = translate_ids(model, SOURCES, DecodeConfig(num_beams=beams))
    uncached = translate_ids(model, SOURCES, DecodeConfig(num_beams=beams, use_cache=False))
    assert cached == uncached


def test_beam_search_scores_at_least_as_well_as_greedy(model):
    """Under the model's own (length-normalised) score, 4 beams find no worse an output than greedy."""

    def score(src_ids, out_ids):
        src, mask = source_batch([src_ids], PAD, EOS)
        tgt = [model.config.bos_id, *out_ids]
        with torch.inference_mode():
            logits = model(src, torch.tensor([tgt]), None, mask)[0][0]
        logp = torch.log_softmax(logits.float(), -1)
        ended = len(out_ids) < limit_of(src_ids)
        targets = [*out_ids, EOS] if ended else out_ids
        total = sum(float(logp[i, t]) for i, t in enumerate(targets))
        return total / len(targets)

    def limit_of(src_ids):
        return output_limits(model, torch.tensor([len(src_ids) + 1]), DecodeConfig())[0]

    greedy = translate_ids(model, SOURCES, DecodeConfig(num_beams=1))
    beams = translate_ids(model, SOURCES, DecodeConfig(num_beams=4, length_penalty=1.0))
    for s, g, b in zip(SOURCES, greedy, beams):
        assert score(s, b) >= score(s, g) - 1e-5


def test_output_length_is_relative_to_the_source(model):
    src, mask = source_batch([[5, 6], [5] * 10], PAD, EOS)
    limits = output_limits(model, mask.sum(dim=1), DecodeConfig(max_len_a=1.0, max_len_b=2))
    assert limits == [5, 13]  # (2 + EOS) * 1 + 2, (10 + EOS) * 1 + 2
    capped = output_limits(model, torch.tensor([200]), DecodeConfig())
    assert capped == [model.max_target_len - 1]
    outs = translate_ids(model, [[5, 6], [5] * 10], DecodeConfig(max_len_a=0.0, max_len_b=1))
    assert all(len(o) <= 1 for o in outs)


def test_sources_beyond_the_limit_are_refused_or_truncated(model):
    too_long = [2 + i % (VOCAB - 2) for i in range(model.max_source_len)]  # the EOS no longer fits
    with pytest.raises(DataError, match=r"source 1 has 24 tokens, more than this model's limit of 23"):
        translate_ids(model, [[3, 4], too_long])
    out = translate_ids(model, [too_long], DecodeConfig(truncate_source=True))
    assert out == translate_ids(model, [too_long[: model.max_source_len - 1]])
    with pytest.raises(DataError, match="source 0 is empty"):
        translate_ids(model, [[]])
    with pytest.raises(DataError, match="outside the model's source vocabulary"):
        translate_ids(model, [[VOCAB + 5]])
    assert translate_ids(model, []) == []


@pytest.mark.parametrize("bad", [{"num_beams": 0}, {"batch_size": 0}, {"max_len_a": 0.0, "max_len_b": 0}])
def test_bad_decode_options(bad):
    with pytest.raises(ConfigError):
        DecodeConfig(**bad)


class _Chars:
    """A character tokenizer over 'a'..'v' (ids 2..23), the toy vocabulary."""

    def encode(self, text: str) -> list[int]:
        return [ord(c) - ord("a") + 2 for c in text if "a" <= c <= "v"]

    def decode(self, ids) -> str:
        return "".join(chr(i - 2 + ord("a")) for i in ids if 2 <= i < VOCAB)


def test_translator_turns_text_into_text(model):
    from arlm.translation.translator import Translator

    tok = _Chars()
    texts = ["abc", "", "hello", "   ", "kjihgfed"]
    out = Translator(model, tok).translate(texts, DecodeConfig(num_beams=2))
    expected = translate_ids(model, [tok.encode(t) for t in ("abc", "hello", "kjihgfed")], DecodeConfig(num_beams=2))
    assert out[1] == "" and out[3] == ""
    assert [out[0], out[2], out[4]] == [tok.decode(e) for e in expected]
    with pytest.raises(DataError, match="source 1 is a int"):
        Translator(model, tok).translate(["a", 3])
