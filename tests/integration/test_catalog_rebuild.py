"""Issue 12: a deleted catalog is reported, never recreated empty, and ``arlm catalog rebuild``
reconstructs it equal to the original from the home's manifests and MLflow (real stages: DuckDB,
Ray Train, MLflow)."""

from __future__ import annotations

import pytest

from arlm.cli.main import main
from arlm.training.config import TrainConfig
from testkit import build_token_dataset, write_prose_corpus

pytestmark = pytest.mark.slow

# every table a stage records, with the columns that identify a row; timestamps are left out
TABLES = {
    "corpora": "id",
    "corpus_versions": "id",
    "corpus_files": "corpus_version_id, path",
    "source_files": "corpus_version_id, uri",
    "tokenizers": "id",
    "token_datasets": "id",
    "training_runs": "run_id",
    "evaluations": "id",
    "models": "name, version",
    "model_aliases": "name, alias",
}


def snapshot(catalog) -> dict[str, list[dict]]:
    out = {}
    for table, order in TABLES.items():
        cols = [
            r["column_name"]
            for r in catalog.rows(
                "SELECT column_name FROM information_schema.columns WHERE table_name = ? ORDER BY ordinal_position",
                [table],
            )
            if not r["column_name"].endswith("_at")
        ]
        out[table] = catalog.rows(f"SELECT {', '.join(cols)} FROM {table} ORDER BY {order}")
    return out


def _run(capsys, *argv) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_deleted_catalog_is_reported_then_rebuilt_equal(home, tmp_path, local_ray, capsys):
    from arlm import stages
    from arlm.catalog import Catalog, CatalogMissingError
    from arlm.training.ray_launcher import RayOptions

    quiet = lambda m: None  # noqa: E731
    dataset_id = build_token_dataset(
        home, write_prose_corpus(tmp_path / "corpus", n_docs=20, sentences=60), vocab_size=300
    )
    cfg = TrainConfig(model="gpt/tiny", max_steps=4, batch_size=8, block_size=32).validate()
    summary = stages.train_stage(cfg, dataset_id, home, RayOptions(num_workers=1, cpus_per_worker=1), progress=quiet)
    metrics = stages.evaluate_stage(
        summary["model_dir"], dataset_id, home, split="test", mlflow_run_id=summary["mlflow_run_id"], progress=quiet
    )
    first = stages.register_stage(summary, metrics, "rebuilt", home, progress=quiet)
    stages.register_stage(summary, metrics, "rebuilt", home, progress=quiet)
    assert _run(capsys, "models", "promote", "rebuilt", str(first["version"]))[0] == 0

    before = snapshot(Catalog(home.catalog_path))
    assert all(before[t] for t in TABLES), {t: len(v) for t, v in before.items()}
    assert {(r["alias"], r["version"]) for r in before["model_aliases"]} == {("challenger", 2), ("champion", 1)}

    home.catalog_path.unlink()
    with pytest.raises(CatalogMissingError, match="arlm catalog rebuild"):
        Catalog(home.catalog_path).ls()
    for argv in (["catalog", "ls"], ["catalog", "lineage", "models:/rebuilt/1"]):
        code, out, err = _run(capsys, *argv)
        assert code == 2 and err.count("\n") == 1 and "arlm catalog rebuild" in err, (argv, err)
    assert not home.catalog_path.exists()  # reported, not recreated empty

    code, out, err = _run(capsys, "catalog", "rebuild", "--json")
    assert code == 0, err
    after = snapshot(Catalog(home.catalog_path))
    for table in TABLES:
        assert after[table] == before[table], table
    code, out, err = _run(capsys, "catalog", "lineage", "models:/rebuilt@champion")
    assert code == 0 and dataset_id in out, err
