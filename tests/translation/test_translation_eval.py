"""Scoring a translator on sentence pairs (``arlm.translation.evaluate.evaluate_pairs``) and the
evaluation stage: sacreBLEU's figures as its own command line computes them on the same files, the
copy-source baseline, the reference loss, source limits, and the signatures recorded in MLflow
(real sacreBLEU, real MLflow SQLite store, real DuckDB catalog).

The helpers at the top (a pair corpus in a home, tiny seq2seq models) are shared with
test_translation_registry.py and test_translation_cli.py."""

from __future__ import annotations

import json
import math
import random
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from arlm.errors import DataError

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "bible-en-es-sample.tsv"
PAIRS_SPEC = f"{FIXTURE}:en,es,book"
TINY = {"d_model": 32, "n_head": 2, "n_encoder_layer": 1, "n_decoder_layer": 1, "d_ff": 64, "dropout": 0.0}


# -- shared helpers --------------------------------------------------------------------------------
def pair_home(root: Path, tokenizer_sides: str = "joint", vocab_size: int = 400) -> dict:
    """A project home at ``root`` holding the fixture's pairs as a corpus version, its tokenizer(s)
    and pair token dataset (the data stages of the translation pipeline)."""
    from arlm.home import get_home
    from arlm.tokenizers import TokenizerConfig
    from arlm.translation.data_stages import ingest_pairs_stage, pair_tokenizer_stage, tokenize_pairs_stage
    from arlm.translation.lake import PairIngestConfig

    home = get_home(root).ensure()
    cfg = PairIngestConfig(corpus=PAIRS_SPEC, split_by="pair", val_fraction=0.1, test_fraction=0.15)
    quiet = lambda m: None  # noqa: E731
    ing = ingest_pairs_stage(cfg, home, progress=quiet)
    tok = pair_tokenizer_stage(
        TokenizerConfig(vocab_size=vocab_size), ing["corpus_id"], home, tokenizer_sides, progress=quiet
    )
    ds = tokenize_pairs_stage(ing["corpus_id"], tok["src_tokenizer_id"], tok["tokenizer_id"], home, progress=quiet)
    return {
        "home": home,
        "corpus_id": ing["corpus_id"],
        "dataset_id": ds["dataset_id"],
        "tokenizer_dir": home.tokenizers / tok["tokenizer_id"],
        "src_tokenizer_dir": None if tok["joint"] else home.tokenizers / tok["src_tokenizer_id"],
        "vocab_size": tok["vocab_size"],
        "src_vocab_size": tok["src_vocab_size"],
    }


def tiny_model_dir(out: Path, vocab_size: int, src_vocab_size: int = 0, seed: int = 0, max_len: int = 160) -> Path:
    """A tiny (untrained) transformer-seq2seq model folder."""
    import torch

    from arlm.models.seq2seq import build_seq2seq, save_seq2seq

    torch.manual_seed(seed)
    extra = {"src_vocab_size": src_vocab_size} if src_vocab_size and src_vocab_size != vocab_size else {}
    model = build_seq2seq(
        "transformer-seq2seq", vocab_size, block_size=max_len, max_source_len=max_len, **TINY, **extra
    )
    save_seq2seq(model, out)
    return out


def tiny_lm_dir(out: Path, vocab_size: int, seed: int = 0) -> Path:
    """A tiny GPT language-model folder (for the wrong-kind checks)."""
    import torch

    from arlm.models import build_model, save_model

    torch.manual_seed(seed)
    save_model(build_model("gpt", vocab_size, 64, n_layer=1, n_head=2, n_embd=16), out)
    return out


def noisy(refs: list[str], seed: int = 0) -> list[str]:
    """Imperfect "translations": references with some words dropped or swapped."""
    rng = random.Random(seed)
    out = []
    for r in refs:
        words = r.split()
        if len(words) > 3 and rng.random() < 0.6:
            del words[rng.randrange(len(words))]
        if len(words) > 3 and rng.random() < 0.6:
            i = rng.randrange(len(words) - 1)
            words[i], words[i + 1] = words[i + 1], words[i]
        out.append(" ".join(words))
    return out


def held_out_pairs(hp: dict, n: int | None = None) -> tuple[list[str], list[str]]:
    from arlm.data import load_corpus_version
    from arlm.translation.lake import read_split_pairs

    pairs = read_split_pairs(load_corpus_version(hp["home"], hp["corpus_id"]), "test")
    return list(pairs.src[:n]), list(pairs.tgt[:n])


# -- fixtures -----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def hp(tmp_path_factory):
    root = tmp_path_factory.mktemp("eval") / "arlm-home"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ARLM_HOME", str(root))
        mp.delenv("MLFLOW_TRACKING_URI", raising=False)
        out = pair_home(root)
        out["model_dir"] = tiny_model_dir(tmp_path_factory.mktemp("model") / "m", out["vocab_size"])
        yield out


@pytest.fixture(scope="module")
def translator(hp):
    from arlm.registry.resolve import translator_from_dirs

    return translator_from_dirs(hp["model_dir"], hp["tokenizer_dir"])


@dataclass
class EchoTranslator:
    """A real model and tokenizer (for the loss and the limits) whose "translations" are given: the
    scores then have realistic values, so the comparison with sacreBLEU's CLI is not vacuous."""

    inner: object
    outputs: dict = field(default_factory=dict)

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def translate(self, texts, cfg=None):
        return [self.outputs[t] for t in texts]


def _sacrebleu_cli(refs: Path, hyps: Path, *args: str) -> list[dict]:
    cmd = [sys.executable, "-m", "sacrebleu", str(refs), "-i", str(hyps), *args, "-f", "json", "-w", "6"]
    done = subprocess.run(cmd, capture_output=True, text=True, check=True)
    result = json.loads(done.stdout)
    return result if isinstance(result, list) else [result]


def _write(path: Path, lines: list[str]) -> Path:
    assert all("\n" not in s and "\r" not in s for s in lines)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


# -- tests --------------------------------------------------------------------------------------------
def test_scores_match_the_sacrebleu_command_line_on_the_same_files(hp, translator, tmp_path):
    from arlm.translation.evaluate import evaluate_pairs

    srcs, refs = held_out_pairs(hp)
    hyps = noisy(refs)
    echo = EchoTranslator(translator, dict(zip(srcs, hyps)))
    scores = evaluate_pairs(echo, srcs, refs, num_beams=1)
    assert scores.hypotheses == hyps
    r = _write(tmp_path / "refs.txt", refs)
    h = _write(tmp_path / "hyps.txt", hyps)
    s = _write(tmp_path / "srcs.txt", srcs)
    cli_bleu, cli_chrf = _sacrebleu_cli(r, h, "-m", "bleu", "chrf")
    (cli_chrf_pp,) = _sacrebleu_cli(r, h, "-m", "chrf", "--chrf-word-order", "2")
    for name, theirs in (("bleu", cli_bleu), ("chrf", cli_chrf), ("chrf_pp", cli_chrf_pp)):
        assert scores[name] == pytest.approx(theirs["score"], abs=1e-5), name
        assert scores[f"{name}_signature"] == theirs["signature"], name
    assert 10 < scores["bleu"] < 100  # a realistic score, not a vacuous 0 or 100
    # the copy-source baseline is the command line's score of the untranslated sources
    copy_bleu, copy_chrf = _sacrebleu_cli(r, s, "-m", "bleu", "chrf")
    assert scores["copy_bleu"] == pytest.approx(copy_bleu["score"], abs=1e-5)
    assert scores["copy_chrf"] == pytest.approx(copy_chrf["score"], abs=1e-5)
    assert scores["copy_bleu"] < scores["bleu"] and scores["n_pairs"] == len(srcs)


def test_evaluate_pairs_of_a_real_model_gives_every_figure(hp, translator):
    from arlm.evaluation.translation import bleu, degeneracy, reference_loss, rouge_l
    from arlm.translation.evaluate import evaluate_pairs, format_scores

    srcs, refs = held_out_pairs(hp)
    shortest = sorted(range(len(srcs)), key=lambda i: len(srcs[i]))[:6]  # an untrained model writes to the limit
    srcs, refs = [srcs[i] for i in shortest], [refs[i] for i in shortest]
    scores = evaluate_pairs(translator, srcs, refs, num_beams=2, batch_size=4)
    keys = {
        "bleu",
        "chrf",
        "chrf_pp",
        "rouge_l",
        "loss",
        "perplexity",
        "bleu_signature",
        "chrf_signature",
        "chrf_pp_signature",
        "copy_bleu",
        "copy_chrf",
        "most_common_share",
        "distinct_ratio",
        "repeated_word_share",
        "n_pairs",
        "sentences_per_second",
    }
    assert keys <= set(scores)
    hyps = scores.hypotheses
    assert len(hyps) == 6 and all(isinstance(h, str) for h in hyps)
    assert scores["bleu"] == bleu(hyps, refs)["score"] and scores["rouge_l"] == rouge_l(hyps, refs)["score"]
    assert {k: scores[k] for k in degeneracy(hyps)} == degeneracy(hyps)
    from arlm.translation.decode import DecodeConfig

    assert hyps == translator.translate(srcs, DecodeConfig(num_beams=2))  # what the CLI and the server give
    ref = reference_loss(translator.model, translator.encode_sources(srcs), translator.encode_targets(refs))
    assert scores["loss"] == pytest.approx(ref["loss"]) and scores["perplexity"] == pytest.approx(math.exp(ref["loss"]))
    assert scores["loss_n_pairs"] == 6 and scores["n_truncated_sources"] == 0 and scores["sentences_per_second"] > 0
    assert scores["bleu_signature"].startswith("nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:")
    text = format_scores(scores, "t")
    assert "copy-source baseline" in text and scores["chrf_pp_signature"] in text
    json.dumps(dict(scores))  # JSON-able: what the stage returns and the CLI prints
    with pytest.raises(DataError, match="2 sources but 1 references"):
        evaluate_pairs(translator, srcs[:2], refs[:1])


def test_long_sources_are_truncated_and_counted_or_refused_with_the_limit(hp, translator, tmp_path):
    from arlm.registry.resolve import translator_from_dirs
    from arlm.translation.evaluate import check_source_lengths, evaluate_pairs

    srcs, refs = held_out_pairs(hp)
    longest = [max(len(s), len(t)) for s, t in zip(translator.encode_sources(srcs), translator.encode_targets(refs))]
    order = sorted(range(len(srcs)), key=longest.__getitem__)
    pick = order[:3] + order[-3:]  # the three shortest pairs fit the model below, the three longest do not
    srcs, refs = [srcs[i] for i in pick], [refs[i] for i in pick]
    max_len = longest[order[2]] + 1
    short = translator_from_dirs(tiny_model_dir(tmp_path / "m", hp["vocab_size"], max_len=max_len), hp["tokenizer_dir"])
    lengths = [len(ids) for ids in short.encode_sources(srcs)]
    over = sum(n > max_len - 1 for n in lengths)
    assert over >= 1
    scores = evaluate_pairs(short, srcs, refs, num_beams=1)
    assert scores["n_truncated_sources"] == over and scores["n_pairs"] == 6
    assert scores["loss_n_pairs"] == 3  # the loss is over the pairs that fit whole
    first = next(i for i, n in enumerate(lengths) if n > max_len - 1)
    with pytest.raises(
        DataError, match=rf"source {first}: {lengths[first]} tokens, more than this model's limit of {max_len - 1} "
    ):
        check_source_lengths(short, srcs)
    assert check_source_lengths(short, srcs, truncate=True) == over


def test_evaluation_stage_logs_scores_and_signatures_in_mlflow_and_the_catalog(hp):
    from arlm.catalog import Catalog
    from arlm.registry.tracking import ensure_experiment, use_tracking
    from arlm.translation.model_stages import evaluate_translation_stage

    home = hp["home"]
    client = use_tracking(home.mlflow_tracking_uri)
    run_id = client.create_run(ensure_experiment(client)).info.run_id
    lines: list[str] = []
    metrics = evaluate_translation_stage(
        str(hp["model_dir"]),
        hp["dataset_id"],
        home,
        mlflow_run_id=run_id,
        num_beams=2,
        max_pairs=6,
        progress=lines.append,
    )
    assert metrics["n_pairs"] == 6 and metrics["split_id"] == f"{hp['corpus_id']}:test:first-6"
    assert any("copy-source baseline" in line for line in lines)
    run = client.get_run(run_id)
    for key in ("bleu_signature", "chrf_signature", "chrf_pp_signature"):
        assert run.data.tags[f"test_{key}"] == metrics[key]
    assert run.data.tags["test_bleu_signature"].startswith("nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:")
    for key in ("bleu", "chrf", "chrf_pp", "rouge_l", "loss", "perplexity", "copy_bleu", "copy_chrf"):
        assert run.data.metrics[f"test_{key}"] == pytest.approx(metrics[key])
    tsv = Path(client.download_artifacts(run_id, "evaluations/test/translations.tsv"))
    assert len(tsv.read_text(encoding="utf-8").splitlines()) == 7  # header + 6 pairs
    rows = Catalog(home.catalog_path).rows("SELECT split, metrics FROM evaluations WHERE mlflow_run_id = ?", [run_id])
    assert len(rows) == 1 and rows[0]["split"] == "test"
    stored = rows[0]["metrics"] if isinstance(rows[0]["metrics"], dict) else json.loads(rows[0]["metrics"])
    assert stored["bleu_signature"] == metrics["bleu_signature"] and stored["bleu"] == pytest.approx(metrics["bleu"])
