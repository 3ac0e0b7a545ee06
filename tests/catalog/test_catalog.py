"""The DuckDB catalog: migrations, records, documents view, lineage, concurrency (real DuckDB)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import duckdb
import pytest

from arlm.catalog import Catalog, format_lineage, parse_model_uri
from arlm.catalog.db import migrations
from arlm.data import IngestConfig, ingest
from arlm.errors import ArlmError, ConfigError, NotFoundError


def recorded_chain(home, corpus_dir) -> tuple[Catalog, str]:
    cv = ingest(IngestConfig(corpus=str(corpus_dir)), home)
    cat = Catalog(home.catalog_path)
    cat.record_corpus_version(cv)
    cat.record_tokenizer("tok1", cv.id, "bpe", 512, home.tokenizers / "tok1", {"eot_id": 0})
    cat.record_token_dataset("ds1", "tok1", cv.id, home.tokens / "ds1", {"dtype": "uint16"})
    cat.record_run("run1", "ds1", "gpt/tiny", {"lr": 3e-4}, {"final_train_loss": 2.5}, "mlf-abc")
    cat.record_evaluation(
        model_dir=home.runs / "run1",
        dataset_id="ds1",
        split="test",
        metrics={"bits_per_byte": 2.1},
        mlflow_run_id="mlf-abc",
    )
    cat.record_model("lm", 1, "run1", "models:/lm/1", {"bits_per_byte": 2.1}, aliases=["champion"])
    return cat, cv.id


def test_migrations_are_applied_once_and_in_order(home):
    cat = Catalog(home.catalog_path)
    n = len(migrations())
    assert n >= 2 and cat.schema_version() == n
    Catalog(home.catalog_path)  # reopening applies nothing new
    rows = cat.rows("SELECT version, name FROM schema_migrations ORDER BY version")
    assert [r["version"] for r in rows] == list(range(1, n + 1))
    tables = {r["table_name"] for r in cat.rows("SELECT table_name FROM information_schema.tables")}
    assert {
        "corpora",
        "corpus_versions",
        "source_files",
        "tokenizers",
        "token_datasets",
        "training_runs",
        "evaluations",
        "models",
        "documents",
    } <= tables


def test_lineage_from_model_back_to_source_files(home, small_text_dir):
    cat, cv_id = recorded_chain(home, small_text_dir)
    lin = cat.lineage("models:/lm/1")
    assert lin["missing"] == []
    assert lin["run"]["run_id"] == "run1" and lin["run"]["config"] == {"lr": 3e-4}
    assert lin["token_dataset"]["id"] == "ds1" and lin["tokenizer"]["vocab_size"] == 512
    assert lin["corpus_version"]["id"] == cv_id
    assert lin["n_source_files"] == 12 and lin["source_files"][0]["uri"] == "doc00.txt"
    assert lin["evaluations"][0]["metrics"] == {"bits_per_byte": 2.1}
    # the alias resolves from the catalog, and the same chain comes back
    assert cat.lineage("models:/lm@champion")["corpus_version"]["id"] == cv_id
    text = format_lineage(lin)
    assert "lm version 1" in text and cv_id in text and "doc00.txt" in text


def test_alias_resolver_and_missing_links(home, small_text_dir):
    cat, _ = recorded_chain(home, small_text_dir)
    cat.record_model("lm", 2, "run-unknown")
    with pytest.raises(NotFoundError, match="alias 'staging' not recorded"):
        cat.lineage("models:/lm@staging")
    lin = cat.lineage("models:/lm@staging", resolver=lambda name, alias: 2)
    assert lin["model"]["version"] == 2 and lin["missing"] == ["run", "token_dataset", "tokenizer", "corpus_version"]
    with pytest.raises(NotFoundError, match="version 7 is not in the catalog"):
        cat.lineage("models:/lm/7")
    for bad in ("lm/1", "models:/lm", "models:/lm/x", "models:/@a"):
        with pytest.raises(ConfigError):
            parse_model_uri(bad)


def test_documents_view_and_read_only_sql(home, small_text_dir):
    cat, cv_id = recorded_chain(home, small_text_dir)
    t = cat.sql("SELECT corpus_version_id, split, count(*) AS n FROM documents GROUP BY ALL ORDER BY split")
    rows = t.to_pylist()
    assert {r["corpus_version_id"] for r in rows} == {cv_id}
    assert sum(r["n"] for r in rows) == cat.rows("SELECT n_docs FROM corpus_versions")[0]["n_docs"]
    with pytest.raises(ArlmError, match="read-only"):
        cat.sql("DELETE FROM corpora")
    assert len(cat.sql("SELECT * FROM corpora")) == 1
    with pytest.raises(ArlmError, match="catalog sql"):
        cat.sql("SELEC nonsense")
    # the cleaning report and per-file outcomes are stored
    rep = cat.rows("SELECT cleaning_report FROM corpus_versions")[0]["cleaning_report"]
    assert rep["files_read"] == 12
    assert cat.rows("SELECT count(*) AS n FROM source_files WHERE status = 'kept'")[0]["n"] == 12


def test_records_are_idempotent(home, small_text_dir):
    cat, cv_id = recorded_chain(home, small_text_dir)
    cat2, _ = recorded_chain(home, small_text_dir)
    for table in (
        "corpora",
        "corpus_versions",
        "tokenizers",
        "token_datasets",
        "training_runs",
        "models",
        "evaluations",
    ):
        assert cat2.rows(f"SELECT count(*) AS n FROM {table}")[0]["n"] == 1, table
    assert cat2.rows("SELECT count(*) AS n FROM source_files")[0]["n"] == 12
    listing = cat2.ls()
    assert listing["models"][0]["aliases"] == "champion"
    assert listing["corpus_versions"][0]["id"] == cv_id


def test_two_processes_write_at_once(home):
    """Writers in two processes take turns on DuckDB's file lock instead of failing."""
    Catalog(home.catalog_path)
    code = textwrap.dedent("""
        import sys
        from arlm.catalog import Catalog
        cat = Catalog(sys.argv[1])
        for i in range(25):
            cat.record_run(f"{sys.argv[2]}-{i}", "ds", "gpt/tiny", {"i": i}, {}, None)
    """)
    procs = [
        subprocess.Popen([sys.executable, "-c", code, str(home.catalog_path), tag], stderr=subprocess.PIPE, text=True)
        for tag in ("a", "b")
    ]
    for p in procs:
        _, err = p.communicate(timeout=240)
        assert p.returncode == 0, err[-2000:]
    cat = Catalog(home.catalog_path)
    assert cat.rows("SELECT count(*) AS n FROM training_runs")[0]["n"] == 50


def test_lock_held_elsewhere_times_out_with_clear_error(home, tmp_path):
    from arlm.catalog import CatalogBusyError

    Catalog(home.catalog_path)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print('locked', flush=True); time.sleep(60)",
            str(home.catalog_path),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(CatalogBusyError, match="locked by another process"):
            Catalog(home.catalog_path, timeout_s=1.0).record_model("m", 1, "r")
    finally:
        holder.kill()
        holder.wait()
    Catalog(home.catalog_path).record_model("m", 1, "r")  # free again


def test_documents_view_survives_a_deleted_version(home, small_text_dir):
    import shutil

    cat, cv_id = recorded_chain(home, small_text_dir)
    shutil.rmtree(home.lake / cv_id)
    cat.refresh_views()
    assert len(cat.sql("SELECT * FROM documents")) == 0
    con = duckdb.connect(str(home.catalog_path), read_only=True)
    try:
        assert con.execute("SELECT count(*) FROM corpus_versions").fetchone()[0] == 1
    finally:
        con.close()
