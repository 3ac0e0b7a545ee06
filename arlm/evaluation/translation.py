"""Scores of translations, comparable across papers and computed offline.

- ``bleu``, ``chrf``, ``chrf_pp``: sacreBLEU's corpus scores (0-100) of detokenized hypotheses
  against the raw references, each with its signature string (``nrefs:1|case:mixed|eff:no|
  tok:13a|smooth:exp|version:2.6.0``): the settings that make a score reproducible, so it is
  recorded beside the number. No tokenized BLEU: its numbers depend on the tokenizer.
- ``rouge_l``: ROUGE-L F1 (x 100, on sacreBLEU's scale) through ``rouge-score``, with a tokenizer
  that keeps every script's letters (its default drops non-ASCII ones: "crió" -> "cri").
- ``reference_loss``: the model's mean negative log-likelihood per target token (nats, EOS
  included, no label smoothing) of the reference translations, and its perplexity.
- ``copy_baseline``: BLEU and chrF of the untranslated sources, the floor a translator must clear.
- ``degeneracy``: how repetitive outputs are (one sentence for every input; a run of one word).

Nothing here downloads anything (``evaluate.load`` would fetch metric scripts from a hub).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from typing import Any

from arlm.errors import DataError

_WORD = re.compile(r"[^\W_]+")


def _check(
    hypotheses: Sequence[str], references: Sequence[str], what: str = "hypotheses"
) -> tuple[list[str], list[str]]:
    hyps, refs = list(hypotheses), list(references)
    if len(hyps) != len(refs):
        raise DataError(f"{len(hyps)} {what} but {len(refs)} references: they must pair up one to one")
    if not refs:
        raise DataError("no sentences to score")
    for name, values in ((what, hyps), ("references", refs)):
        for i, v in enumerate(values):
            if not isinstance(v, str):
                raise DataError(f"{name} {i} is a {type(v).__name__}, expected a string")
    return hyps, refs


def _sacre(metric, hyps: list[str], refs: list[str]) -> tuple[Any, str]:
    result = metric.corpus_score(hyps, [refs])
    return result, str(metric.get_signature())


def bleu(hypotheses: Sequence[str], references: Sequence[str]) -> dict[str, Any]:
    """sacreBLEU BLEU (13a tokenization, exponential smoothing, mixed case): ``score``,
    ``signature``, the n-gram ``precisions``, brevity penalty ``bp`` and length ``ratio``."""
    from sacrebleu.metrics import BLEU

    hyps, refs = _check(hypotheses, references)
    result, signature = _sacre(BLEU(), hyps, refs)
    return {
        "score": float(result.score),
        "signature": signature,
        "precisions": [float(p) for p in result.precisions],
        "bp": float(result.bp),
        "ratio": float(result.ratio),
    }


def chrf(hypotheses: Sequence[str], references: Sequence[str]) -> dict[str, Any]:
    """sacreBLEU chrF (character 6-grams, beta 2): ``score`` and ``signature``."""
    from sacrebleu.metrics import CHRF

    result, signature = _sacre(CHRF(), *_check(hypotheses, references))
    return {"score": float(result.score), "signature": signature}


def chrf_pp(hypotheses: Sequence[str], references: Sequence[str]) -> dict[str, Any]:
    """sacreBLEU chrF++ (chrF plus word unigrams and bigrams): ``score`` and ``signature``."""
    from sacrebleu.metrics import CHRF

    result, signature = _sacre(CHRF(word_order=2), *_check(hypotheses, references))
    return {"score": float(result.score), "signature": signature}


class UnicodeWordTokenizer:
    """ROUGE tokenizer: lowercase runs of letters and digits of any script ("crió" stays "crió").

    Implements ``rouge_score.tokenizers.Tokenizer``'s one method, ``tokenize(text)``."""

    def tokenize(self, text: str) -> list[str]:
        return _WORD.findall(text.lower())


def rouge_l(hypotheses: Sequence[str], references: Sequence[str]) -> dict[str, Any]:
    """ROUGE-L (longest common subsequence) mean F1, precision and recall over sentences, x 100."""
    from rouge_score import rouge_scorer

    hyps, refs = _check(hypotheses, references)
    scorer = rouge_scorer.RougeScorer(["rougeL"], tokenizer=UnicodeWordTokenizer())
    f = p = r = 0.0
    for h, ref in zip(hyps, refs):
        s = scorer.score(ref, h)["rougeL"]  # score(target, prediction)
        f, p, r = f + s.fmeasure, p + s.precision, r + s.recall
    n = len(hyps)
    return {
        "score": 100.0 * f / n,
        "precision": 100.0 * p / n,
        "recall": 100.0 * r / n,
        "tokenizer": "unicode-words-lowercase",
    }


def copy_baseline(sources: Sequence[str], references: Sequence[str]) -> dict[str, Any]:
    """BLEU and chrF of the sources themselves as translations (names shared words, numbers, names)."""
    srcs, refs = _check(sources, references, "sources")
    return {"bleu": bleu(srcs, refs)["score"], "chrf": chrf(srcs, refs)["score"]}


def degeneracy(hypotheses: Sequence[str], min_run: int = 4) -> dict[str, float]:
    """How repetitive outputs are: ``most_common_share`` (share of outputs equal to the most
    frequent one), ``distinct_ratio`` (distinct outputs / outputs), ``repeated_word_share`` (share
    of outputs that are one word repeated ``min_run``+ times, nothing else)."""
    hyps = [h.strip() for h in hypotheses]
    if not hyps:
        raise DataError("no outputs to check")
    counts = Counter(hyps)
    runs = 0
    for h in hyps:
        words = h.split()
        if len(words) >= min_run and len(set(words)) == 1:
            runs += 1
    return {
        "most_common_share": counts.most_common(1)[0][1] / len(hyps),
        "distinct_ratio": len(counts) / len(hyps),
        "repeated_word_share": runs / len(hyps),
    }


def translation_scores(
    hypotheses: Sequence[str], references: Sequence[str], sources: Sequence[str] | None = None
) -> dict[str, Any]:
    """Every text score in one flat dict: ``bleu``, ``chrf``, ``chrf_pp``, ``rouge_l`` (0-100),
    their ``*_signature``s, ``n_sentences``, and with ``sources`` the ``copy_bleu``/``copy_chrf``
    baseline on the same pairs."""
    hyps, refs = _check(hypotheses, references)
    b, c, cpp, r = bleu(hyps, refs), chrf(hyps, refs), chrf_pp(hyps, refs), rouge_l(hyps, refs)
    out: dict[str, Any] = {
        "bleu": b["score"],
        "bleu_signature": b["signature"],
        "chrf": c["score"],
        "chrf_signature": c["signature"],
        "chrf_pp": cpp["score"],
        "chrf_pp_signature": cpp["signature"],
        "rouge_l": r["score"],
        "n_sentences": len(hyps),
    }
    if sources is not None:
        base = copy_baseline(sources, refs)
        out["copy_bleu"], out["copy_chrf"] = base["bleu"], base["chrf"]
    return out


def reference_loss(
    model: Any,
    sources: Sequence[Sequence[int]],
    targets: Sequence[Sequence[int]],
    max_tokens: int = 4096,
    device: Any = None,
) -> dict[str, float]:
    """Mean negative log-likelihood (nats) per target token of the references under ``model``
    (each target's EOS included; label smoothing off), its perplexity, and the token count.

    ``sources``/``targets`` are token ids without BOS/EOS (added here as in training); batches of
    about ``max_tokens`` padded tokens. The model's mode is restored after the call."""
    import torch

    from arlm.models.seq2seq import make_batch, token_batches

    if len(sources) != len(targets):
        raise DataError(f"{len(sources)} sources but {len(targets)} targets")
    if not sources:
        raise DataError("no pairs to score")
    cfg = model.config
    if device is None:
        device = next(model.parameters()).device
    longest = max(max(len(s) for s in sources), max(len(t) for t in targets)) + 1
    if longest > min(model.max_source_len, model.max_target_len):
        raise DataError(
            f"a pair has {longest} tokens with its end token, more than the model's limit "
            f"(max_source_len {model.max_source_len}, block_size {model.max_target_len})"
        )
    batches = token_batches(
        [len(s) for s in sources], [len(t) for t in targets], max(max_tokens, longest), shuffle=False
    )
    total, count = 0.0, 0
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            for idx in batches:
                batch = make_batch(
                    [sources[i] for i in idx], [targets[i] for i in idx], cfg.pad_id, cfg.bos_id, cfg.eos_id
                ).to(device)
                nll, n = model.token_nll(batch.src, batch.tgt_in, batch.tgt_out, batch.src_mask)
                total += nll
                count += n
    finally:
        model.train(was_training)
    loss = total / count
    if not math.isfinite(loss):
        raise DataError(f"reference loss is {loss} over {count} tokens: the model's weights are broken")
    return {"loss": loss, "perplexity": math.exp(min(loss, 700.0)), "n_tokens": count}
