"""The walking skeleton, end to end, on the real Prefect engine, Ray Train, MLflow and DuckDB."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from testkit import write_prose_corpus

pytestmark = pytest.mark.slow


def test_pipeline_end_to_end_two_ray_workers(home, tmp_path, prefect_api, local_ray):
    from arlm.catalog import Catalog
    from arlm.tokenizers import load_tokenizer
    from arlm_flows.params import PipelineParams
    from arlm_flows.pipeline import pipeline

    corpus = write_prose_corpus(tmp_path / "corpus")
    params = PipelineParams(
        corpus=str(corpus),
        name="skeleton",
        vocab_size=512,
        workers=2,
        max_seconds=120,
        max_steps=60,
        batch_size=16,
        block_size=64,
        home=str(home.root),
    )
    out = pipeline(params)

    # corpus version in the catalog (real DuckDB)
    cat = Catalog(home.catalog_path)
    rows = cat.sql(f"SELECT * FROM corpus_versions WHERE id = '{out['corpus']['corpus_id']}'")
    assert len(rows) == 1

    # tokenizer round trip on the test text
    tok = load_tokenizer(Path(out["tokenizer"]["path"]))
    from arlm.data import iter_texts, load_corpus_version

    cv = load_corpus_version(home, out["corpus"]["corpus_id"])
    test_texts = [t for batch in iter_texts(cv, "test") for t in batch]
    assert test_texts, "the test split is empty"
    for t in test_texts:
        assert tok.decode(tok.encode(t)) == t

    # training loss fell (2 DDP workers over gloo)
    summary = json.loads((Path(out["train"]["out_dir"]) / "summary.json").read_text())
    assert summary["first_train_loss"] > summary["final_train_loss"]
    result = json.loads((Path(out["train"]["out_dir"]) / "result.json").read_text())
    assert result["world_size"] == 2

    # registered with alias champion, beating a unigram model of the same test text
    import mlflow

    client = mlflow.MlflowClient(tracking_uri=home.mlflow_tracking_uri)
    mv = client.get_model_version_by_alias("skeleton", "champion")
    assert int(mv.version) == out["registration"]["version"]
    assert out["metrics"]["bits_per_byte"] < out["metrics"]["unigram_bits_per_byte"]

    # the catalog traces the champion back to the source files it learned from
    from arlm.registry import mlflow_alias_resolver

    lineage = cat.lineage("models:/skeleton@champion", resolver=mlflow_alias_resolver(home))
    assert lineage["missing"] == [] and lineage["corpus_version"]["id"] == out["corpus"]["corpus_id"]
    assert lineage["n_source_files"] == len(list(corpus.glob("*.txt")))

    # the evaluate flow on the registered model gives the pipeline's own test figures again
    from arlm_flows.evaluate import evaluate
    from arlm_flows.params import EvaluateParams

    again = evaluate(EvaluateParams(model_uri="models:/skeleton@champion", samples=2, home=str(home.root)))
    assert again["metrics"]["bits_per_byte"] == pytest.approx(out["metrics"]["bits_per_byte"], rel=1e-6)
    assert len(again["samples"]) == 2
    arts = [a.path for a in client.list_artifacts(mv.run_id, "evaluations/test")]
    assert {"evaluations/test/evaluation.json", "evaluations/test/evaluation.html"} <= set(arts)

    # a fresh process that imports neither Prefect nor Ray loads models:/skeleton@champion
    code = textwrap.dedent(f"""
        import sys, json
        import mlflow
        mlflow.set_tracking_uri({home.mlflow_tracking_uri!r})
        m = mlflow.pyfunc.load_model("models:/skeleton@champion")
        out = m.predict({{"prompt": ["The model"]}}, params={{"max_new_tokens": 7, "seed": 0}})
        # the very model that was loaded, asked for ids with no end-of-text stop: exactly 7 new
        from arlm.generation import GenerationConfig, generate
        gen = m.unwrap_python_model().generator
        ids = generate(gen.model, [gen.encode("The model")], GenerationConfig(max_new_tokens=7))
        assert "prefect" not in sys.modules and "ray" not in sys.modules, "serving imported prefect/ray"
        print(json.dumps({{"texts": list(out), "n_new": len(ids[0]), "decoded": gen.decode(ids[0])}}))
    """)
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"}
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300, cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert got["n_new"] == 7
    assert len(got["texts"]) == 1 and isinstance(got["texts"][0], str)
    # greedy predict() is the same continuation, cut at an end-of-text if the model wrote one
    assert got["decoded"].startswith(got["texts"][0])
