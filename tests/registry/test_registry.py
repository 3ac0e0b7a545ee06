"""The MLflow model, the champion gate and URI resolution against a real SQLite MLflow store."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from arlm.errors import ConfigError, NotFoundError
from arlm.generation import GenerationConfig

LINEAGE = {"arlm.corpus_version": "c1", "arlm.tokenizer_version": "t1", "arlm.token_dataset_version": "d1"}


@pytest.fixture(scope="module")
def logged(mlflow_home, tokenizer_dir, make_model_dir):
    from arlm.registry import log_model

    return log_model(make_model_dir(0), tokenizer_dir, name="tiny", metrics={"test_bits_per_byte": 3.2}, tags=LINEAGE)


def test_logged_model_is_from_code_with_explicit_requirements(logged, mlflow_home):
    import mlflow
    from mlflow.models import Model

    from arlm.registry import pip_requirements

    local = Path(mlflow.artifacts.download_artifacts(logged.model_uri, dst_path=str(mlflow_home.cache / "dl")))
    files = {p.relative_to(local).as_posix() for p in local.rglob("*") if p.is_file()}
    assert not any(f.endswith(".pkl") for f in files), "no pickled wrapper"
    assert "code/arlm/generation/decode.py" in files and "code/arlm/models/gpt.py" in files
    assert {
        "artifacts/model/model.safetensors",
        "artifacts/model/model_config.json",
        "artifacts/tokenizer/tokenizer.json",
    } <= files
    assert "artifacts/model/train_state.json" not in files
    reqs = (local / "requirements.txt").read_text().split()
    assert reqs == pip_requirements()
    assert any(r.startswith("torch==") and "+" not in r for r in reqs)
    assert not any(r.split("==")[0] in ("prefect", "ray", "duckdb", "mlflow") for r in reqs)
    mlmodel = Model.load(str(local))
    assert mlmodel.flavors["python_function"]["model_code_path"].endswith("pyfunc_model.py")
    params = {p.name: p.default for p in mlmodel.signature.params}
    assert {"max_new_tokens", "temperature", "top_k", "top_p", "num_beams", "seed"} <= set(params)
    assert [c.name for c in mlmodel.signature.inputs.inputs] == ["prompt"]
    assert mlmodel.saved_input_example_info is not None
    assert "## Limits" in mlmodel.metadata["description"]
    tags = mlflow.MlflowClient().get_logged_model(logged.model_id).tags
    assert tags["arlm.token_dataset_version"] == "d1" and tags["arlm.model_kind"] == "gpt"
    assert tags["metric.test_bits_per_byte"] == "3.2" and tags["arlm.git_commit"]


def test_gate_promotes_better_refuses_worse_and_rollback(logged, mlflow_home):
    from arlm.registry import promote, register_with_gate, rollback, show_model

    name = "gated"
    d1 = register_with_gate(logged.model_uri, name, 3.0, "d1:test")
    assert d1.promoted and d1.champion_version is None
    d2 = register_with_gate(logged.model_uri, name, 2.5, "d1:test")
    assert d2.promoted and d2.champion_version == "1" and d2.champion_bpb == 3.0
    d3 = register_with_gate(logged.model_uri, name, 2.7, "d1:test")
    assert not d3.promoted and d3.champion_bpb == 2.5
    d4 = register_with_gate(logged.model_uri, name, 1.0, "other:test")  # not comparable
    assert not d4.promoted and "another test split" in d4.reason
    assert "NOT promoted" in d3.markdown() and "2.7000" in d3.markdown() and "2.5000" in d3.markdown()

    info = show_model(name)
    assert info["aliases"] == {"champion": "2", "challenger": "4"}
    v3 = next(v for v in info["versions"] if v["version"] == "3")
    assert v3["tags"]["arlm.gate.decision"] == "refused"
    assert float(v3["tags"]["arlm.gate.challenger_bpb"]) == 2.7
    assert float(v3["tags"]["arlm.gate.champion_bpb"]) == 2.5
    assert v3["tags"]["arlm.token_dataset_version"] == "d1"  # lineage copied from the logged model
    assert "## Evaluation" in v3["description"]

    assert promote(name, 3) == "2"
    assert show_model(name)["aliases"]["champion"] == "3"
    assert rollback(name) == ("3", "2")
    assert rollback(name) == ("2", "1")
    assert show_model(name)["aliases"]["champion"] == "1"
    with pytest.raises(ConfigError, match="no previous champion"):
        rollback(name)
    with pytest.raises(NotFoundError, match="no version 99"):
        promote(name, 99)


def test_load_generator_resolves_uris_and_lists_names_on_miss(logged, mlflow_home):
    from arlm.registry import load_generator, register_with_gate

    register_with_gate(logged.model_uri, "resolved", 3.0, "d1:test")
    cfg = GenerationConfig(max_new_tokens=8)
    outs = {
        uri: load_generator(uri).generate(["the model"], cfg)[0]
        for uri in ("models:/resolved@champion", "models:/resolved/1", logged.model_uri)
    }
    assert len(set(outs.values())) == 1
    gen = load_generator("models:/resolved@champion")
    assert gen.tags["arlm.token_dataset_version"] == "d1" and gen.resolved.version == "1"
    with pytest.raises(
        NotFoundError,
        match=r"models:/nope@champion not found; registered models: .*resolved \(@challenger=v1, @champion=v1\)",
    ):
        load_generator("models:/nope@champion")
    with pytest.raises(NotFoundError, match="models:/resolved@gold not found"):
        load_generator("models:/resolved@gold")
    with pytest.raises(NotFoundError, match="not a model URI"):
        load_generator("no-such-thing")


def test_pyfunc_predict_matches_generator_and_rejects_bad_params(logged, mlflow_home):
    import mlflow
    from mlflow.exceptions import MlflowException

    from arlm.registry import load_generator

    pm = mlflow.pyfunc.load_model(logged.model_uri)
    df = pd.DataFrame({"prompt": ["the model", "text and"]})
    out = pm.predict(df, params={"max_new_tokens": 6})
    expected = load_generator(logged.model_uri).generate(["the model", "text and"], GenerationConfig(max_new_tokens=6))
    assert list(out) == expected
    sampled = pm.predict(df, params={"max_new_tokens": 6, "temperature": 0.9, "seed": 3})
    assert list(sampled) == list(pm.predict(df, params={"max_new_tokens": 6, "temperature": 0.9, "seed": 3}))
    beams = pm.predict(df, params={"max_new_tokens": 6, "num_beams": 3})
    assert len(beams) == 2
    assert list(pm.predict([{"prompt": "the model"}], params={"max_new_tokens": 6})) == expected[:1]
    # the README's form: a dict of a list of prompts, and a single prompt string
    assert list(pm.predict({"prompt": ["the model", "text and"]}, params={"max_new_tokens": 6})) == expected
    assert list(pm.predict({"prompt": "the model"}, params={"max_new_tokens": 6})) == expected[:1]
    with pytest.raises(MlflowException, match="top_p must be in"):
        pm.predict(df, params={"top_p": 2.0})
    with pytest.raises(MlflowException, match="prompt 0 is empty"):
        pm.predict(pd.DataFrame({"prompt": [""]}))
    # past the context the window slides (the tiny model's context is shorter than 64 + prompt)
    long = pm.predict(df, params={"max_new_tokens": 64})
    assert len(long) == 2 and all(len(t) > len(p) for t, p in zip(long, ["the model", "text and"]))
