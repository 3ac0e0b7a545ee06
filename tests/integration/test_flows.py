"""The stage flows on their own, on the real Prefect engine, DuckDB, Ray and MLflow: ingest with
its cleaning options, tokenizer on a corpus version, compare (leaderboard artifact and MLflow run)."""

from __future__ import annotations

import json
import math

import pytest

from testkit import write_prose_corpus

pytestmark = pytest.mark.slow


def _artifact(key: str):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    with get_client(sync_client=True) as client:
        found = client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key])))
    assert found, f"no Prefect artifact with key {key!r}"
    return found[-1]


def test_ingest_tokenizer_and_compare_flows(home, tmp_path, prefect_api, local_ray):
    import mlflow

    from arlm.catalog import Catalog
    from arlm_flows.compare import compare
    from arlm_flows.ingest import ingest
    from arlm_flows.params import CompareParams, IngestParams, TokenizerParams
    from arlm_flows.tokenizer import tokenizer

    corpus = write_prose_corpus(tmp_path / "corpus", n_docs=30)
    (corpus / "notes.md").write_text("# not prose\n" * 50, encoding="utf-8")
    cv = ingest(IngestParams(corpus=str(corpus), include=["*.txt"], min_chars=10, home=str(home.root)))
    stats = cv["stats"]
    assert stats["n_input_files"] == 30, stats  # the include glob dropped notes.md
    rows = Catalog(home.catalog_path).sql(f"SELECT id FROM corpus_versions WHERE id = '{cv['corpus_id']}'")
    assert len(rows) == 1
    report = _artifact("data-report")
    assert cv["corpus_id"] in report.data

    tok = tokenizer(TokenizerParams(corpus_id=cv["corpus_id"], vocab_size=400, home=str(home.root)))
    ds_id = tok["dataset"]["dataset_id"]
    assert 300 < tok["tokenizer"]["vocab_size"] <= 400  # the BPE stops early when it runs out of merges

    # every kind of the family, each trained by Ray Train and tracked in MLflow, on the same tokens
    kinds = ["ngram/bigram", "rnn", "lstm", "gru", "lstm-attn", "gpt"]
    out = compare(
        CompareParams(
            models=kinds,
            dataset_id=ds_id,
            max_steps=40,
            lr=5e-3,  # the peak: warm-up is 5% of the steps
            max_seconds=120,
            batch_size=8,
            block_size=32,
            home=str(home.root),
        )
    )
    board = out["leaderboard"]
    assert sorted(r["model"] for r in board) == sorted(kinds)
    bpb = [r["bits_per_byte"] for r in board]
    assert bpb == sorted(bpb) and all(0 < b < 16 for b in bpb)
    vocab = tok["tokenizer"]["vocab_size"]
    client = mlflow.MlflowClient(home.mlflow_tracking_uri)
    for r in board:  # each learned: far below the ln(V) nats of an untrained model on held-out text
        assert r["loss"] < math.log(vocab) - 1.5, (r["model"], r["loss"], math.log(vocab))
        run = client.get_run(r["mlflow_run_id"])
        assert run.data.params and run.data.tags["arlm.token_dataset_version"] == ds_id
        assert run.data.tags["arlm.model"] == r["model"]
        if not r["model"].startswith("ngram"):
            assert "train_loss" in run.data.metrics and "val_bits_per_byte" in run.data.metrics
            assert "loss_curve.png" in [a.path for a in client.list_artifacts(r["mlflow_run_id"])]
    md = _artifact("leaderboard").data
    assert all(k in md for k in kinds) and "bzip2" in md
    runs = client.search_runs(
        [r.experiment_id for r in client.search_experiments()], filter_string="tags.`arlm.kind` = 'leaderboard'"
    )
    assert len(runs) == 1
    saved = json.loads(open(client.download_artifacts(runs[0].info.run_id, "leaderboard.json", str(tmp_path))).read())
    assert [r["model"] for r in saved["leaderboard"]] == [r["model"] for r in board]
    # the trainings went through the global concurrency limit (one at a time)
    from prefect.client.orchestration import get_client

    from arlm_flows.tasks import TRAINING_CONCURRENCY

    with get_client(sync_client=True) as pc:
        limit = pc.read_global_concurrency_limit_by_name(TRAINING_CONCURRENCY)
    assert limit.limit == 1 and limit.active_slots == 0
