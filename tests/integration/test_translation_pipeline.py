"""``pipeline`` with task="translation", end to end on the real Prefect engine, Ray Train, MLflow,
DuckDB and sacreBLEU: the committed 289-pair sample of bible-en-es -> lake -> joint BPE -> pair
tokens -> transformer-seq2seq through the shared loop -> BLEU/chrF on the test book(s) -> a
registered translator whose gate decision follows its BLEU and the copy-source baseline."""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

FIXTURE = Path(__file__).parents[1] / "fixtures" / "bible-en-es-sample.tsv"


def test_translation_pipeline_end_to_end(home, prefect_api, local_ray):
    import mlflow

    from arlm.catalog import Catalog
    from arlm_flows.params import PipelineParams
    from arlm_flows.pipeline import pipeline

    params = PipelineParams(
        task="translation",
        corpus=f"{FIXTURE}:en,es,book",
        name="bible-sample",
        vocab_size=600,
        pair_max_chars=400,
        model_overrides={"d_model": 64, "d_ff": 128, "n_encoder_layer": 1, "n_decoder_layer": 1},
        block_size=256,
        batch_size=8,  # 8 x 256 padded tokens a side per step
        max_steps=30,
        eval_interval=15,
        eval_max_pairs=20,
        eval_num_beams=2,
        home=str(home.root),
    )
    out = pipeline(params)
    assert out["task"] == "translation"
    assert out["train"]["model"] == "transformer-seq2seq/tiny"  # gpt/tiny, the LM default, was replaced
    summary = out["train"]
    assert summary["steps"] == 30 and summary["first_train_loss"] > summary["final_train_loss"]

    m = out["metrics"]
    for key in ("bleu", "chrf", "chrf_pp", "rouge_l", "loss", "perplexity", "copy_bleu", "copy_chrf"):
        assert isinstance(m[key], float), key
    assert m["bleu_signature"].startswith("nrefs:1|") and "version:" in m["bleu_signature"]

    # the gate: champion only above the copy-source baseline (a 30-step model may not be)
    reg = out["registration"]
    assert reg["promoted"] == (m["bleu"] > m["copy_bleu"]), (m["bleu"], m["copy_bleu"], reg)
    client = mlflow.MlflowClient(tracking_uri=home.mlflow_tracking_uri)
    mv = client.get_model_version("bible-sample", str(reg["version"]))
    run = client.get_run(mv.run_id)
    assert run.data.metrics["test_bleu"] == pytest.approx(m["bleu"])
    assert any(v == m["bleu_signature"] for v in run.data.tags.values())  # the signature is recorded

    # the catalog knows the language pair, and the pair dataset's lineage
    cat = Catalog(home.catalog_path)
    rows = cat.sql(
        "SELECT json_extract_string(config, '$.src_lang') AS src, json_extract_string(config, '$.tgt_lang') AS tgt "
        f"FROM corpus_versions WHERE id = '{out['corpus']['corpus_id']}'"
    ).to_pylist()
    assert rows == [{"src": "en", "tgt": "es"}]
    assert out["corpus"]["src_lang"] == "en" and out["corpus"]["tgt_lang"] == "es"

    # the registered model translates: the served pyfunc's predict, loaded by URI
    model = mlflow.pyfunc.load_model(f"models:/bible-sample/{reg['version']}")
    outputs = model.predict({"source": ["In the beginning God created the heavens and the earth."]})
    assert len(outputs) == 1 and isinstance(outputs[0], str)

    # a rerun reuses the data stages and resumes nothing: a finished run is not retrained over
    again = pipeline(params)
    assert again["corpus"]["reused"] and again["dataset"]["reused"]
