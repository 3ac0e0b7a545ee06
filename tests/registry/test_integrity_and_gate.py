"""Issue 12: the gate never crowns a model that does not beat the unigram baseline, aliases are
mirrored in the catalog, registered weights carry their sha256 and corrupted ones are refused
(real MLflow SQLite store, real DuckDB catalog)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from arlm.cli.main import main


def _run(capsys, *argv) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def _catalog_aliases(home, name: str) -> dict[str, int]:
    from arlm.catalog import Catalog

    rows = Catalog(home.catalog_path).rows("SELECT alias, version FROM model_aliases WHERE name = ?", [name])
    return {r["alias"]: r["version"] for r in rows}


@pytest.fixture(scope="module")
def logged(mlflow_home, tokenizer_dir, make_model_dir):
    from arlm.registry import log_model

    return log_model(make_model_dir(5), tokenizer_dir, name="gate", tags={"arlm.token_dataset_version": "nope"})


def test_gate_refuses_a_model_worse_than_unigram_even_without_champion(logged, mlflow_home):
    from arlm.registry import register_with_gate, show_model

    worse = register_with_gate(logged.model_uri, "ugate", 3.135, "d:test", unigram_bpb=2.635)
    assert not worse.promoted and worse.champion_version is None
    assert "unigram" in worse.reason and "3.1350 >= 2.6350" in worse.reason
    assert "NOT promoted" in worse.markdown() and "unigram baseline" in worse.markdown()
    info = show_model("ugate")
    assert info["aliases"] == {"challenger": "1"}  # registered, not crowned
    assert info["versions"][0]["tags"]["arlm.gate.decision"] == "refused"
    assert _catalog_aliases(mlflow_home, "ugate") == {"challenger": 1}

    # the pipeline's tags carry the baseline: read from there when not passed
    tagged = register_with_gate(
        logged.model_uri, "ugate", 2.9, "d:test", tags={"metric.test_unigram_bits_per_byte": "2.5"}
    )
    assert not tagged.promoted and tagged.unigram_bpb == 2.5

    better = register_with_gate(logged.model_uri, "ugate", 2.0, "d:test", unigram_bpb=2.635)
    assert better.promoted and "no champion yet" in better.reason
    assert show_model("ugate")["aliases"] == {"challenger": "3", "champion": "3"}
    assert _catalog_aliases(mlflow_home, "ugate") == {"challenger": 3, "champion": 3}

    # better than the champion but not than unigram: still refused
    odd = register_with_gate(logged.model_uri, "ugate", 1.9, "d:test", unigram_bpb=1.5)
    assert not odd.promoted and show_model("ugate")["aliases"]["champion"] == "3"


def test_promote_and_rollback_are_recorded_in_the_catalog(logged, mlflow_home, capsys):
    from arlm.registry import register_with_gate

    register_with_gate(logged.model_uri, "aliased", 3.0, "d:test")
    register_with_gate(logged.model_uri, "aliased", 2.0, "d:test")
    assert _catalog_aliases(mlflow_home, "aliased") == {"challenger": 2, "champion": 2}
    code, out, err = _run(capsys, "models", "rollback", "aliased")
    assert code == 0, err
    assert _catalog_aliases(mlflow_home, "aliased")["champion"] == 1
    code, out, err = _run(capsys, "models", "promote", "aliased", "2")
    assert code == 0 and "champion is now v2 (was v1)" in out
    assert _catalog_aliases(mlflow_home, "aliased")["champion"] == 2
    # the catalog's alias answers lineage-style resolution without MLflow
    from arlm.catalog import Catalog

    assert Catalog(mlflow_home.catalog_path).resolve_model("models:/aliased@champion") == ("aliased", 2)


def test_registered_weights_carry_their_sha256(logged, mlflow_home):
    import mlflow

    from arlm.versioning import sha256_file

    local = Path(mlflow.artifacts.download_artifacts(logged.model_uri, dst_path=str(mlflow_home.cache / "sha")))
    meta = json.loads((local / "artifacts/model/model_config.json").read_text())
    assert meta["weights_sha256"] == sha256_file(local / "artifacts/model/model.safetensors")
    tags = mlflow.MlflowClient().get_logged_model(logged.model_id).tags
    assert tags["arlm.weights_sha256"] == meta["weights_sha256"]


def _registered_weights(logged) -> Path:
    import mlflow

    location = mlflow.MlflowClient().get_logged_model(logged.model_id).artifact_location
    files = list(Path(location.removeprefix("file://")).rglob("model.safetensors"))
    assert len(files) == 1, files
    return files[0]


def test_corrupted_registered_weights_are_refused(mlflow_home, tokenizer_dir, capsys, tmp_path):
    """100 KB of garbage in a registered model.safetensors: evaluate and generate fail on one
    line naming the file; no evaluation row is stored."""
    import torch

    from arlm.catalog import Catalog
    from arlm.models import build_model, save_model
    from arlm.registry import log_model, register_with_gate
    from tokenizers import Tokenizer

    vocab = Tokenizer.from_file(str(tokenizer_dir / "tokenizer.json")).get_vocab_size()
    torch.manual_seed(0)
    model_dir = save_model(build_model("gpt", vocab, 64, n_layer=2, n_head=2, n_embd=64), tmp_path / "big")
    info = log_model(model_dir, tokenizer_dir, name="corrupt", tags={"arlm.token_dataset_version": "nope"})
    register_with_gate(info.model_uri, "corrupt", 3.0, "d:test")
    text = tmp_path / "t.txt"
    text.write_text("the model reads text and learns to predict the next token.\n" * 20)
    code, _, err = _run(capsys, "evaluate", "--model", "models:/corrupt@champion", "--text-file", str(text))
    assert code == 0, err  # intact: evaluates

    weights = _registered_weights(info)
    size = weights.stat().st_size
    assert size > 200_000
    with open(weights, "r+b") as f:  # the header stays valid: safetensors alone would load NaNs
        f.seek(size // 2)
        f.write(b"\xff" * 100_000)
    assert weights.stat().st_size == size
    n_before = Catalog(mlflow_home.catalog_path).rows("SELECT count(*) AS n FROM evaluations")[0]["n"]
    for argv in (
        ["evaluate", "--model", "models:/corrupt@champion", "--text-file", str(text)],
        ["evaluate", "--model", "models:/corrupt/1", "--split", "test"],
        ["generate", "the model", "--model", "models:/corrupt@champion", "--max-new-tokens", "4"],
    ):
        code, out, err = _run(capsys, *argv)
        assert code == 2, (argv, out, err)
        lines = err.strip().splitlines()
        assert len(lines) == 1 and "model.safetensors" in lines[0] and "corrupted" in lines[0], (argv, err)
        assert "nan" not in out.lower()
    assert Catalog(mlflow_home.catalog_path).rows("SELECT count(*) AS n FROM evaluations")[0]["n"] == n_before


@pytest.mark.parametrize("samples", ["0", "-1", "1000"])
def test_evaluate_invalid_samples_is_one_line(samples, capsys, mlflow_home):
    code, out, err = _run(capsys, "evaluate", "--model", "models:/x@champion", "--samples", samples)
    assert code == 2 and err.strip().count("\n") == 0 and "--samples must be between 1 and" in err
    code, _, err = _run(capsys, "evaluate", "--model", "models:/x@champion", "--batch-size", "0")
    assert code == 2 and "--batch-size must be >= 1" in err
