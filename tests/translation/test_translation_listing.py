"""Translation models in ``arlm models list / show`` (each version's gate figure with its name:
BLEU for a translator, bits per byte for a language model) and in ``arlm catalog rebuild`` (model
rows with their BLEU metrics, aliases, and the translation evaluation of the training run), on a
real MLflow SQLite store, real DuckDB catalog and real sacreBLEU.

The training is left out (Ray Train is covered by tests/integration): a tiny untrained
transformer-seq2seq stands in a run folder whose ``summary.json`` has the fields ``train_stage``
writes, beside its MLflow run; evaluation and registration are the real translation stages."""

from __future__ import annotations

import json

import pytest

from arlm.cli.main import main
from translation.test_translation_eval import pair_home, tiny_lm_dir, tiny_model_dir

NAME = "tr-list"
LM_NAME = "lm-list"
# the catalog tables the stages fill, with the columns that order their rows
TABLES = {
    "corpora": "id",
    "corpus_versions": "id",
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


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """A home with a translator registered twice by the stages (v1 champion by hand) and a language
    model registered through the gate at 1.658 bits per byte."""
    from arlm.catalog import Catalog
    from arlm.registry import log_model, promote, register_with_gate
    from arlm.registry.tracking import ensure_experiment, use_tracking
    from arlm.translation.model_stages import evaluate_translation_stage, register_translation_stage
    from arlm.versioning import atomic_write_json

    root = tmp_path_factory.mktemp("listing") / "arlm-home"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ARLM_HOME", str(root))
        mp.delenv("MLFLOW_TRACKING_URI", raising=False)
        hp = pair_home(root)
        home = hp["home"]
        quiet = lambda m: None  # noqa: E731

        run_id = "train-tiny"
        out_dir = home.runs / run_id
        model_dir = tiny_model_dir(out_dir / "checkpoints" / "best", hp["vocab_size"])
        client = use_tracking(home.mlflow_tracking_uri)
        mlflow_run_id = client.create_run(ensure_experiment(client), run_name=run_id).info.run_id
        params = {"train": {"model": "transformer-seq2seq/tiny"}, "num_workers": 1, "dataset_id": hp["dataset_id"]}
        summary = {
            "run_id": run_id,
            "out_dir": str(out_dir),
            "mlflow_run_id": mlflow_run_id,
            "model_dir": str(model_dir),
            "dataset_id": hp["dataset_id"],
            "model": "transformer-seq2seq/tiny",
            "steps": 0,
            "params": params,
        }
        atomic_write_json(out_dir / "summary.json", summary)  # as train_stage leaves it, and records it:
        Catalog(home.catalog_path).record_run(
            run_id, hp["dataset_id"], summary["model"], params, {"steps": 0}, mlflow_run_id
        )

        metrics = evaluate_translation_stage(
            str(model_dir),
            hp["dataset_id"],
            home,
            mlflow_run_id=mlflow_run_id,
            num_beams=1,
            max_pairs=4,
            progress=quiet,
        )
        first = register_translation_stage(summary, metrics, NAME, home, progress=quiet)
        second = register_translation_stage(summary, metrics, NAME, home, progress=quiet)
        promote(NAME, first["version"])

        lm = log_model(tiny_lm_dir(tmp_path_factory.mktemp("lm") / "m", hp["vocab_size"]), hp["tokenizer_dir"])
        assert register_with_gate(lm.model_uri, LM_NAME, 1.658, "lm-data:test").promoted
        yield {"home": home, "hp": hp, "metrics": metrics, "versions": (first, second), "summary": summary}


def test_version_metric_names_the_figure_of_either_gate():
    from arlm.registry import format_models_list, version_metric

    lm = version_metric({"arlm.test_bpb": "1.658", "arlm.test_split_id": "d:test"})
    assert lm == {"metric": "bits_per_byte", "unit": "bits/byte", "value": 1.658, "text": "1.6580 bits/byte"}
    tr = version_metric({"arlm.test_bleu": "12.3", "arlm.test_copy_bleu": "1.0", "arlm.gate.metric": "bleu"})
    assert tr == {"metric": "bleu", "unit": "BLEU", "value": 12.3, "text": "BLEU 12.30"}
    assert version_metric({"arlm.test_bleu": "7.25"})["text"] == "BLEU 7.25"  # no metric tag: the figure's tag
    for tags in ({}, None, {"arlm.gate.metric": "rouge", "arlm.test_bleu": "3"}, {"arlm.test_bpb": "nan"}):
        assert version_metric(tags) is None, tags

    rows = [
        {"name": "a", "n_versions": 2, "latest_version": 2, "aliases": {"champion": "1"}, "champion_test_metric": lm},
        {"name": "b", "n_versions": 1, "latest_version": 1, "aliases": {}, "champion_test_metric": None},
    ]
    header, a, b = format_models_list(rows).splitlines()
    assert "champion test metric" in header and a.split()[-2:] == ["bits/byte", "@champion=v1"]
    assert "1.6580 bits/byte" in a and b.split()[-2:] == ["-", "-"]
    assert format_models_list([]) == "no registered models"


def test_models_list_and_show_name_the_translation_metric(built, capsys):
    import arlm.registry
    import arlm.registry.resolve
    from arlm.registry import format_model_show, list_models, show_model

    m = built["metrics"]
    rows = {r["name"]: r for r in list_models()}
    tr, lm = rows[NAME], rows[LM_NAME]
    assert tr["aliases"] == {"champion": "1", "challenger": "2"} and tr["latest_version"] == 2
    assert tr["champion_test_bpb"] is None  # no bits per byte for a translator
    assert tr["champion_test_metric"]["metric"] == "bleu"
    assert tr["champion_test_metric"]["value"] == pytest.approx(m["bleu"])
    assert tr["champion_test_metric"]["text"] == f"BLEU {m['bleu']:.2f}"
    assert lm["champion_test_bpb"] == 1.658 and lm["champion_test_metric"]["text"] == "1.6580 bits/byte"

    info = show_model(NAME)
    figures = [v["test_metric"]["text"] for v in info["versions"]]
    assert figures == [f"BLEU {m['bleu']:.2f}"] * 2
    tags = info["versions"][0]["tags"]
    assert tags["arlm.task"] == "translation" and tags["arlm.gate.metric"] == "bleu" and "arlm.test_bpb" not in tags
    text = format_model_show(info)
    assert "v1    champion" in text and f"test BLEU {m['bleu']:.2f}" in text and "gate: promoted by hand" in text
    assert "test 1.6580 bits/byte" in format_model_show(show_model(LM_NAME))

    assert main(["models", "list", "--json"]) == 0
    listed = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert listed[NAME]["champion_test_metric"]["text"] == f"BLEU {m['bleu']:.2f}"

    assert arlm.registry.load_translator is arlm.registry.resolve.load_translator
    assert "load_translator" in arlm.registry.__all__


def test_catalog_rebuild_restores_translation_models_aliases_and_evaluation(built, capsys):
    from arlm.catalog import Catalog
    from arlm.catalog.rebuild import rebuild_catalog

    home, m = built["home"], built["metrics"]
    before = snapshot(Catalog(home.catalog_path))
    rows = [r for r in before["models"] if r["name"] == NAME]
    assert [r["version"] for r in rows] == [1, 2]
    assert rows[0]["metrics"]["bleu"] == pytest.approx(m["bleu"]) and "copy_bleu" in rows[0]["metrics"]
    assert len(before["evaluations"]) == 1 and before["evaluations"][0]["metrics"]["split_id"] == m["split_id"]

    home.catalog_path.unlink()
    report = rebuild_catalog(home, progress=lambda msg: None)
    assert not report.skipped, report.skipped
    assert report.counts["evaluations"] == 1 and report.counts["model_aliases"] == 4
    after = snapshot(Catalog(home.catalog_path))
    for table in TABLES:
        if table != "models":
            assert after[table] == before[table], table
    # the translator's rows as the registration stage recorded them (BLEU and all, from its run)
    assert [r for r in after["models"] if r["name"] == NAME] == rows
    # the language model, registered by the gate alone, gains the row the stages would have written
    assert [(r["name"], r["version"]) for r in after["models"] if r["name"] == LM_NAME] == [(LM_NAME, 1)]
    aliases = {(r["name"], r["alias"]): r["version"] for r in after["model_aliases"]}
    assert aliases == {
        (NAME, "champion"): 1,
        (NAME, "challenger"): 2,
        (LM_NAME, "champion"): 1,
        (LM_NAME, "challenger"): 1,
    }

    assert main(["catalog", "lineage", f"models:/{NAME}@champion"]) == 0
    assert built["hp"]["dataset_id"] in capsys.readouterr().out
