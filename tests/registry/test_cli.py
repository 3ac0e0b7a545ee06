"""``arlm generate``, ``arlm evaluate`` and ``arlm models ...`` end to end on a real MLflow store."""

from __future__ import annotations

import json

import pytest

from arlm.cli.main import main
from arlm.generation import GenerationConfig


@pytest.fixture(scope="module")
def registered(mlflow_home, tokenizer_dir, make_model_dir):
    from arlm.registry import log_model, register_with_gate

    info = log_model(make_model_dir(2), tokenizer_dir, name="cli", tags={"arlm.token_dataset_version": "nope"})
    register_with_gate(info.model_uri, "cli", 3.0, "d:test")
    register_with_gate(info.model_uri, "cli", 2.0, "d:test")
    return "models:/cli@champion"


def _run(capsys, *argv) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_generate_streams_the_continuation(registered, capsys):
    from arlm.registry import load_generator

    expected = load_generator(registered).generate(["the model"], GenerationConfig(max_new_tokens=8))[0]
    code, out, _ = _run(capsys, "generate", "--model", registered, "--max-new-tokens", "8", "the model")
    assert code == 0 and out == "the model" + expected + "\n"
    code, out_t0, _ = _run(
        capsys, "generate", "--model", registered, "--max-new-tokens", "8", "--temperature", "0", "the model"
    )
    assert out_t0 == out  # temperature 0 alone is greedy
    args = ("generate", "--model", registered, "--max-new-tokens", "8", "--temperature", "0.8", "--seed", "5", "text")
    assert _run(capsys, *args)[1] == _run(capsys, *args)[1]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--top-p", "2"], "top_p must be in (0, 1]"),
        (["--temperature", "-1"], "temperature must be >= 0"),
    ],
)
def test_generate_bad_options_are_one_line_errors(registered, capsys, argv, message):
    code, _, err = _run(capsys, "generate", "--model", registered, *argv, "the model")
    assert code == 2 and message in err and "Traceback" not in err


def test_unknown_model_lists_registered_names(registered, capsys):
    code, _, err = _run(capsys, "generate", "--model", "models:/cli@nope", "hi")
    assert code == 2 and "registered models:" in err and "cli (@challenger=v2, @champion=v2)" in err
    code, _, err = _run(capsys, "generate", "--model", "models:/cli", "hi")
    assert code == 2 and "not found" in err


def test_evaluate_text_file_beside_compressors(registered, capsys, tmp_path, mlflow_home):
    import mlflow

    text = "the model reads text and learns to predict the next token.\n" * 20
    f = tmp_path / "held-out.txt"
    f.write_text(text)
    code, out, err = _run(capsys, "evaluate", "--model", registered, "--text-file", str(f), "--json")
    assert code == 0, err
    report = json.loads(out)
    m = report["metrics"]
    assert m["n_bytes"] == len(text.encode()) and m["bits_per_byte"] > 0
    assert {"gzip_bits_per_byte", "bzip2_bits_per_byte", "xz_bits_per_byte"} <= set(m)
    assert report["samples"] and all(s["prompt"] for s in report["samples"])
    code, out, _ = _run(capsys, "evaluate", "--model", registered, "--text-file", str(f), "--samples", "1")
    assert "bits per byte" in out and "xz" in out and "gzip" in out
    run_id = mlflow.pyfunc.load_model(registered).metadata.run_id
    client = mlflow.MlflowClient()
    logged = client.get_run(run_id).data.metrics
    assert logged["eval_held-out.txt_bits_per_byte"] == pytest.approx(m["bits_per_byte"])
    arts = {a.path for a in client.list_artifacts(run_id, "evaluations/held-out.txt")}
    assert arts == {"evaluations/held-out.txt/evaluation.json", "evaluations/held-out.txt/evaluation.html"}
    from arlm.catalog import Catalog
    from arlm.home import get_home

    rows = (
        Catalog(get_home().catalog_path)
        .sql("SELECT model_uri, split FROM evaluations WHERE split = 'held-out.txt'")
        .to_pylist()
    )
    assert [(r["model_uri"], r["split"]) for r in rows] == [(registered, "held-out.txt")]  # one row, updated


def test_evaluate_rejects_empty_and_binary_files(registered, capsys, tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("  \n")
    code, _, err = _run(capsys, "evaluate", "--model", registered, "--text-file", str(empty))
    assert code == 2 and "empty" in err and str(empty) in err
    binary = tmp_path / "blob.bin"
    binary.write_bytes(b"\x7fELF\x00\x01\x02" * 50)
    code, _, err = _run(capsys, "evaluate", "--model", registered, "--text-file", str(binary))
    assert code == 2 and "binary" in err
    code, _, err = _run(capsys, "evaluate", "--model", registered, "--split", "test")
    assert code == 2 and "nope: not a token dataset" in err  # the model's tag names a missing dataset


def test_models_list_show_promote_rollback(registered, capsys):
    code, out, _ = _run(capsys, "models", "list", "--json")
    row = next(r for r in json.loads(out) if r["name"] == "cli")
    assert row["aliases"] == {"champion": "2", "challenger": "2"} and row["champion_test_bpb"] == 2.0
    code, out, _ = _run(capsys, "models", "show", "cli")
    assert "v1" in out and "v2" in out and "promoted" in out
    assert _run(capsys, "models", "rollback", "cli")[1].strip() == "cli: champion rolled back from v2 to v1"
    assert "champion is now v2 (was v1)" in _run(capsys, "models", "promote", "cli", "2")[1]
    code, _, err = _run(capsys, "models", "show", "missing")
    assert code == 2 and "no registered model named 'missing'" in err


@pytest.fixture(scope="module")
def pipeline_model(mlflow_home, tmp_path_factory):
    """A model registered the way the pipeline does it: corpus -> tokenizer -> token dataset (real
    stages), an untrained GPT, tags naming the token dataset."""
    import random

    from arlm.data.config import IngestConfig
    from arlm.models import build_model, save_model
    from arlm.registry import log_model, register_with_gate
    from arlm.stages import ingest_stage, tokenize_stage, tokenizer_stage
    from arlm.tokenizers import TokenizerConfig

    texts = tmp_path_factory.mktemp("texts")
    words = "the model reads text and learns to predict the next token one at a time".split()
    rng = random.Random(0)
    for i in range(20):
        lines = [" ".join(rng.choice(words) for _ in range(12)) + "." for _ in range(20)]
        (texts / f"doc{i:02d}.txt").write_text("\n".join(lines) + "\n")
    quiet = lambda msg: None  # noqa: E731
    corpus = ingest_stage(IngestConfig(corpus=str(texts), val_fraction=0.1, test_fraction=0.2), mlflow_home, quiet)
    tok = tokenizer_stage(TokenizerConfig(kind="bpe", vocab_size=300), corpus["corpus_id"], mlflow_home, quiet)
    ds = tokenize_stage(corpus["corpus_id"], tok["tokenizer_id"], mlflow_home, quiet)
    model = build_model("gpt", tok["vocab_size"], 64, n_layer=1, n_head=2, n_embd=16)
    model_dir = save_model(model, tmp_path_factory.mktemp("pm"))
    info = log_model(
        model_dir,
        tok["path"],
        name="piped",
        tags={"arlm.token_dataset_version": ds["dataset_id"], "arlm.corpus_version": corpus["corpus_id"]},
    )
    register_with_gate(info.model_uri, "piped", 9.0, f"{ds['dataset_id']}:test")
    return "models:/piped@champion", ds["dataset_id"]


def test_evaluate_split_of_the_models_token_dataset(pipeline_model, capsys, mlflow_home):
    import math

    from arlm.tokenizers import TokenDataset

    uri, dataset_id = pipeline_model
    code, out, err = _run(capsys, "evaluate", "--model", uri, "--split", "test", "--json")
    assert code == 0, err
    m = json.loads(out)["metrics"]
    ds = TokenDataset.open(mlflow_home.tokens / dataset_id)
    assert m["n_bytes"] == ds.n_bytes("test")
    assert m["n_tokens"] == ds.n_tokens("test")  # every token scored, the first from end-of-text
    assert 0 < m["bits_per_byte"] and math.isfinite(m["loss"])
    assert all(f"{c}_bits_per_byte" in m for c in ("gzip", "bzip2", "xz", "unigram"))
    code, out, _ = _run(capsys, "evaluate", "--model", uri)  # --split test is the default
    assert code == 0 and "unigram" in out and "xz" in out


def test_generate_and_evaluate_default_to_the_champion_of_what_the_pipeline_registers(capsys):
    import argparse

    from arlm.cli.main import build_parser
    from arlm.defaults import DEFAULT_MODEL_NAME

    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    name_option = next(a for a in sub.choices["pipeline"]._actions if "--name" in a.option_strings)
    assert DEFAULT_MODEL_NAME in f"{name_option.default} {name_option.help}"  # what `pipeline` registers
    for command in (["generate", "a prompt"], ["evaluate"]):
        assert parser.parse_args(command).model == f"models:/{DEFAULT_MODEL_NAME}@champion"
    with pytest.raises(SystemExit):
        main(["generate", "--help"])
    assert f"models:/{DEFAULT_MODEL_NAME}@champion" in " ".join(capsys.readouterr().out.split())
