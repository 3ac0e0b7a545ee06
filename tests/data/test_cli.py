"""``arlm ingest`` and ``arlm catalog {ls,lineage,sql}`` through their argparse handlers."""

from __future__ import annotations

import json

from arlm.catalog import Catalog


def test_ingest_prints_report_and_says_when_unchanged(home, small_text_dir, run_cli):
    code, out, err = run_cli(home, ["ingest", "--corpus", str(small_text_dir), "--workers", "1"])
    assert code == 0, err
    assert "files read" in out and "split val" in out and "ingest: 12/12 files" in err
    vid = out.strip().splitlines()[-1].split()[1]
    code, out, _ = run_cli(home, ["ingest", "--corpus", str(small_text_dir), "--quiet"])
    assert code == 0 and out.startswith(f"unchanged, reusing version {vid}")
    code, out, _ = run_cli(home, ["ingest", "--corpus", str(small_text_dir), "--quiet", "--json"])
    data = json.loads(out)
    assert data["id"] == vid and data["reused"] and data["stats"]["splits"]["train"]["n_docs"] >= 1


def test_catalog_ls_sql_and_lineage(home, small_text_dir, run_cli):
    code, out, _ = run_cli(home, ["ingest", "--corpus", str(small_text_dir), "--quiet", "--json"])
    vid = json.loads(out)["id"]
    cat = Catalog(home.catalog_path)
    cat.record_tokenizer("tok9", vid, "char", 64, "/tmp/tok9", {})
    cat.record_token_dataset("ds9", "tok9", vid, "/tmp/ds9", {})
    cat.record_run("run9", "ds9", "lstm/tiny", {}, {}, None)
    cat.record_model("demo", 3, "run9", aliases=["champion"])

    code, out, _ = run_cli(home, ["catalog", "ls"])
    assert code == 0 and vid in out and "tok9" in out and "demo" in out and "champion" in out
    code, out, _ = run_cli(
        home, ["catalog", "sql", "SELECT split, count(*) AS n FROM documents GROUP BY split ORDER BY split"]
    )
    assert code == 0 and out.splitlines()[0].split() == ["split", "n"] and "train" in out
    code, out, _ = run_cli(home, ["catalog", "sql", "--json", "SELECT id FROM corpus_versions"])
    assert json.loads(out) == {"id": vid}
    code, out, _ = run_cli(home, ["catalog", "lineage", "models:/demo@champion"])
    assert code == 0
    assert "demo version 3" in out and "run9" in out and "tok9" in out and vid in out and "doc00.txt" in out
    code, out, _ = run_cli(home, ["catalog", "lineage", "--json", "models:/demo/3"])
    assert json.loads(out)["corpus_version"]["id"] == vid
    code, _, err = run_cli(home, ["catalog", "lineage", "models:/demo@nope"])
    assert code == 2 and "alias not in the catalog nor in MLflow" in err
    code, _, err = run_cli(home, ["catalog", "sql", "DROP TABLE corpora"])
    assert code == 2 and "read-only" in err
