"""A translator scored on sentence pairs: every figure of ``arlm.evaluation.translation`` at once.

``evaluate_pairs(translator, sources, references)`` translates the sources (beam search, 4 beams
by default) and returns one flat dict (a :class:`TranslationScores`, whose ``.hypotheses`` holds
the outputs):

    bleu, chrf, chrf_pp, rouge_l              sacreBLEU BLEU / chrF / chrF++ and ROUGE-L, 0-100, of the
                                              detokenized outputs against the raw references
    bleu_signature, chrf_signature,           sacreBLEU's signature strings: what makes the scores
    chrf_pp_signature                         reproducible, kept beside them
    copy_bleu, copy_chrf                      the copy-source baseline: the untranslated sources scored
    loss, perplexity                          the model's mean negative log-likelihood (nats) per
                                              reference token (EOS included) and its exp
    loss_n_tokens, loss_n_pairs               what the loss averages over
    most_common_share, distinct_ratio,        degeneracy: the share of outputs equal to the most frequent
    repeated_word_share                       one, distinct outputs / outputs, outputs that are one
                                              word repeated
    n_pairs, n_truncated_sources, num_beams   counts and the decoding used
    translate_seconds, sentences_per_second   translation speed (the whole call, batches of
                                              ``batch_size`` sources)

Each score comes from its one function in ``arlm.evaluation.translation``; nothing here computes
a metric itself, and nothing is fetched at run time.

Lengths: a source longer than the model's ``max_source_len`` keeps its first tokens for
translation (``truncate_source=True``, the default here, counted in ``n_truncated_sources``: the
score stays over every pair, so truncation costs the model, never the reader); the reference loss
is over the pairs that fit the model's limits whole (``loss_n_pairs`` of ``n_pairs``).
``check_source_lengths`` is the same limit for callers that refuse instead (``arlm translate``,
the served model): a DataError naming the source and the limit.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from arlm.errors import DataError
from arlm.translation.decode import DecodeConfig

PROGRESS_CHUNK = 256  # sources translated between two progress lines


class TranslationScores(dict):
    """The flat dict of figures, with the outputs in ``.hypotheses`` (not a metric: never logged)."""

    hypotheses: list[str]

    def __init__(self, metrics: dict[str, Any], hypotheses: list[str]):
        super().__init__(metrics)
        self.hypotheses = hypotheses


def source_token_limit(model: Any) -> int:
    """Most tokens a source may have (the model's ``max_source_len`` less the end token)."""
    return int(model.max_source_len) - 1


def check_source_lengths(
    translator: Any,
    sources: Sequence[str],
    *,
    truncate: bool = False,
    where: Callable[[int], str] | None = None,
    hint: str = "pass truncate_source=true to keep its first tokens",
) -> int:
    """The number of ``sources`` longer than the model's source limit (in the translator's source
    tokens); with ``truncate`` False the first such source is a DataError naming it (``where(i)``,
    default ``source i``), its length and the limit, ending with ``hint``."""
    limit = source_token_limit(translator.model)
    ids = translator.encode_sources(list(sources))
    over = [i for i, s in enumerate(ids) if len(s) > limit]
    if over and not truncate:
        i = over[0]
        label = where(i) if where is not None else f"source {i}"
        raise DataError(
            f"{label}: {len(ids[i])} tokens, more than this model's limit of {limit} source tokens "
            f"(max_source_len {translator.model.max_source_len} with the end token); shorten it or {hint}"
        )
    return len(over)


def _check_pairs(sources: Sequence[str], references: Sequence[str]) -> tuple[list[str], list[str]]:
    srcs, refs = list(sources), list(references)
    if len(srcs) != len(refs):
        raise DataError(f"{len(srcs)} sources but {len(refs)} references: they must pair up one to one")
    if not srcs:
        raise DataError("no sentence pairs to evaluate")
    for name, values in (("source", srcs), ("reference", refs)):
        for i, v in enumerate(values):
            if not isinstance(v, str):
                raise DataError(f"{name} {i} is a {type(v).__name__}, expected a string")
    return srcs, refs


def _loss(translator: Any, model: Any, srcs: list[str], refs: list[str]) -> dict[str, float]:
    """Reference loss over the pairs that fit the model's limits whole."""
    from arlm.evaluation.translation import reference_loss

    src_ids = translator.encode_sources(srcs)
    tgt_ids = translator.encode_targets(refs)
    # reference_loss takes a pair when its longer side, with its end token, fits both limits
    limit = min(int(model.max_source_len), int(model.max_target_len))
    keep = [i for i in range(len(srcs)) if max(len(src_ids[i]), len(tgt_ids[i])) + 1 <= limit]
    if not keep:
        raise DataError(
            f"no pair fits the model's limits (max_source_len {model.max_source_len}, block_size "
            f"{model.max_target_len}): the reference loss cannot be computed"
        )
    out = reference_loss(model, [src_ids[i] for i in keep], [tgt_ids[i] for i in keep])
    return {
        "loss": float(out["loss"]),
        "perplexity": float(out["perplexity"]),
        "loss_n_tokens": int(out["n_tokens"]),
        "loss_n_pairs": len(keep),
    }


def evaluate_pairs(
    translator: Any,
    sources: Sequence[str],
    references: Sequence[str],
    *,
    num_beams: int = 4,
    batch_size: int = 32,
    model: Any = None,
    length_penalty: float = 1.0,
    max_len_a: float = DecodeConfig.max_len_a,
    max_len_b: int = DecodeConfig.max_len_b,
    truncate_source: bool = True,
    progress: Callable[[str], None] | None = None,
) -> TranslationScores:
    """Translate ``sources`` with ``translator`` (a ``Translator``) and score the outputs against
    ``references`` (see the module docstring for every key). ``model`` is the seq2seq model whose
    reference loss is measured (default: ``translator.model``); ``progress`` gets a line per
    ``PROGRESS_CHUNK`` sources translated."""
    from arlm.evaluation.translation import degeneracy, translation_scores

    srcs, refs = _check_pairs(sources, references)
    model = translator.model if model is None else model
    cfg = DecodeConfig(
        num_beams=num_beams,
        length_penalty=length_penalty,
        max_len_a=max_len_a,
        max_len_b=max_len_b,
        truncate_source=truncate_source,
        batch_size=batch_size,
    )
    n_truncated = check_source_lengths(translator, srcs, truncate=truncate_source)
    loss = _loss(translator, model, srcs, refs)  # before translating: a pair set it cannot score fails fast
    hyps: list[str] = []
    start = time.perf_counter()
    for lo in range(0, len(srcs), PROGRESS_CHUNK):
        hyps += translator.translate(srcs[lo : lo + PROGRESS_CHUNK], cfg)
        if progress is not None and len(srcs) > PROGRESS_CHUNK:
            rate = len(hyps) / max(time.perf_counter() - start, 1e-9)
            progress(f"translated {len(hyps)}/{len(srcs)} sources ({rate:.1f} sentences/s)")
    seconds = time.perf_counter() - start
    scores = translation_scores(hyps, refs, srcs)
    n = scores.pop("n_sentences")
    metrics: dict[str, Any] = {
        **scores,
        **loss,
        **degeneracy(hyps),
        "n_pairs": n,
        "n_truncated_sources": n_truncated,
        "num_beams": num_beams,
        "translate_seconds": seconds,
        "sentences_per_second": n / max(seconds, 1e-9),
    }
    return TranslationScores(metrics, hyps)


SIGNATURES = ("bleu_signature", "chrf_signature", "chrf_pp_signature")


def format_scores(m: dict[str, Any], title: str = "translation") -> str:
    """The terminal report of :func:`evaluate_pairs`' figures."""
    lines = [
        title,
        f"  pairs {int(m['n_pairs']):,}   beams {m.get('num_beams', '?')}   "
        f"{m['sentences_per_second']:.1f} sentences/s"
        + (f"   sources truncated {int(m['n_truncated_sources'])}" if m.get("n_truncated_sources") else ""),
        f"  loss {m['loss']:.4f} nats/token   perplexity {m['perplexity']:.2f}"
        + (
            f"   (over {int(m['loss_n_pairs']):,} pairs that fit the model)"
            if m.get("loss_n_pairs") not in (None, m["n_pairs"])
            else ""
        ),
        "",
        f"  {'':<22}{'BLEU':>8}{'chrF':>8}{'chrF++':>8}{'ROUGE-L':>9}",
        f"  {'model':<22}{m['bleu']:>8.2f}{m['chrf']:>8.2f}{m['chrf_pp']:>8.2f}{m['rouge_l']:>9.2f}",
        f"  {'copy-source baseline':<22}{m['copy_bleu']:>8.2f}{m['copy_chrf']:>8.2f}",
        "",
        f"  degeneracy: most common output {100 * m['most_common_share']:.1f}% of outputs, "
        f"distinct {100 * m['distinct_ratio']:.1f}%, one word repeated {100 * m['repeated_word_share']:.1f}%",
        "",
        *[f"  {k}: {m[k]}" for k in SIGNATURES if k in m],
    ]
    return "\n".join(lines)
