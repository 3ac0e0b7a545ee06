"""Translation scores: sacreBLEU as its own command line computes it, ROUGE-L that keeps "crió",
the copy baseline, degeneracy, and the reference loss of a model."""

from __future__ import annotations

import json
import math
import random
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from arlm.errors import DataError
from arlm.evaluation.translation import (
    UnicodeWordTokenizer,
    bleu,
    chrf,
    chrf_pp,
    copy_baseline,
    degeneracy,
    reference_loss,
    rouge_l,
    translation_scores,
)
from arlm.models.seq2seq import make_batch
from arlm.translation.pairs import read_pairs
from translation.toy import BOS, EOS, PAD, sample_pairs, small_model

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "bible-en-es-sample.tsv"


def _hypotheses(refs: list[str]) -> list[str]:
    """Imperfect "translations": references with some words dropped, swapped or repeated."""
    rng = random.Random(0)
    out = []
    for r in refs:
        words = r.split()
        if len(words) > 3 and rng.random() < 0.5:
            del words[rng.randrange(len(words))]
        if len(words) > 3 and rng.random() < 0.5:
            i = rng.randrange(len(words) - 1)
            words[i], words[i + 1] = words[i + 1], words[i]
        out.append(" ".join(words))
    return out


def test_sacrebleu_scores_match_the_sacrebleu_command_line(tmp_path):
    pairs = read_pairs(f"{FIXTURE}:en,es,book")
    refs = pairs.tgt[:120]
    hyps = _hypotheses(refs)
    (tmp_path / "refs.txt").write_text("\n".join(refs) + "\n", encoding="utf-8")
    (tmp_path / "hyps.txt").write_text("\n".join(hyps) + "\n", encoding="utf-8")

    def cli(*args: str) -> list[dict]:
        cmd = [sys.executable, "-m", "sacrebleu", str(tmp_path / "refs.txt"), "-i", str(tmp_path / "hyps.txt")]
        done = subprocess.run([*cmd, *args, "-f", "json", "-w", "6"], capture_output=True, text=True, check=True)
        result = json.loads(done.stdout)
        return result if isinstance(result, list) else [result]

    cli_bleu, cli_chrf = cli("-m", "bleu", "chrf")
    (cli_chrf_pp,) = cli("-m", "chrf", "--chrf-word-order", "2")
    ours = {"bleu": bleu(hyps, refs), "chrf": chrf(hyps, refs), "chrf_pp": chrf_pp(hyps, refs)}
    for name, theirs in (("bleu", cli_bleu), ("chrf", cli_chrf), ("chrf_pp", cli_chrf_pp)):
        assert ours[name]["score"] == pytest.approx(theirs["score"], abs=1e-5), name
        assert ours[name]["signature"] == theirs["signature"], name
    assert ours["bleu"]["signature"].startswith("nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:")
    assert 10 < ours["bleu"]["score"] < 100 and "nw:2" in ours["chrf_pp"]["signature"]


def test_rouge_l_keeps_non_ascii_letters():
    assert UnicodeWordTokenizer().tokenize("Crió a Dios, ¡Señor!") == ["crió", "a", "dios", "señor"]
    # rouge-score's default tokenizer cuts words at non-ASCII letters ("crió" -> "cri"), so "sí" and
    # "sé" both become "s": a perfect score for a wrong word
    from rouge_score import rouge_scorer, tokenizers

    assert tokenizers.DefaultTokenizer().tokenize("crió") == ["cri"]
    assert rouge_scorer.RougeScorer(["rougeL"]).score("sí", "sé")["rougeL"].fmeasure == 1.0
    assert rouge_l(["sé"], ["sí"])["score"] == 0.0
    assert rouge_l(["crío"], ["crió"])["score"] == 0.0
    assert rouge_l(["En el principio crió Dios"], ["En el principio crió Dios"])["score"] == pytest.approx(100.0)
    half = rouge_l(["el principio"], ["en el principio crió"])  # LCS 2: P 1, R 0.5
    assert half["precision"] == pytest.approx(100.0) and half["recall"] == pytest.approx(50.0)


def test_copy_baseline_and_flat_scores():
    pairs = read_pairs(f"{FIXTURE}:en,es,book")
    src, refs = pairs.src[:100], pairs.tgt[:100]
    base = copy_baseline(src, refs)
    assert 0 <= base["bleu"] < 10 and 0 < base["chrf"] < 40  # English is a poor Spanish translation
    scores = translation_scores(_hypotheses(refs), refs, sources=src)
    assert scores["bleu"] > base["bleu"] and scores["chrf"] > base["chrf"]
    assert scores["copy_bleu"] == base["bleu"] and scores["n_sentences"] == 100
    for key in ("bleu_signature", "chrf_signature", "chrf_pp_signature"):
        assert scores[key].startswith("nrefs:1|")
    with pytest.raises(DataError, match="2 hypotheses but 1 references"):
        bleu(["a", "b"], ["a"])
    with pytest.raises(DataError, match="no sentences"):
        chrf([], [])


def test_degeneracy():
    assert degeneracy(["a b", "c d", "e"]) == {
        "most_common_share": 1 / 3,
        "distinct_ratio": 1.0,
        "repeated_word_share": 0.0,
    }
    d = degeneracy(["the the the the", "same", "same", "same"])
    assert d["most_common_share"] == 0.75 and d["repeated_word_share"] == 0.25 and d["distinct_ratio"] == 0.5


def test_reference_loss_is_the_mean_nll_per_target_token():
    model = small_model("transformer").eval()
    pairs = sample_pairs(random.Random(1), 9)
    src, tgt = [p[0] for p in pairs], [p[1] for p in pairs]
    result = reference_loss(model, src, tgt, max_tokens=20)  # several batches
    b = make_batch(src, tgt, PAD, BOS, EOS)
    with torch.no_grad():
        logits, _ = model(b.src, b.tgt_in, None, b.src_mask)
    keep = b.tgt_out != -1
    expected = float(torch.nn.functional.cross_entropy(logits[keep], b.tgt_out[keep]))
    assert result["n_tokens"] == sum(len(t) + 1 for t in tgt)
    assert result["loss"] == pytest.approx(expected, rel=1e-5)
    assert result["perplexity"] == pytest.approx(math.exp(expected), rel=1e-5)
    assert model.training is False
    with pytest.raises(DataError, match="more than the model's limit"):
        reference_loss(model, [[2] * 30], [[3]])
