"""The translator in the registry: logged as a pyfunc (input ``source``, decoding params, the same light
requirements), loaded back with the same outputs, refused input as arlm errors, the champion gate
on test BLEU (beat the champion on the same test pairs and the copy-source baseline), the
registration stage, the wrong family refused, and ``mlflow models serve`` answering (real MLflow
SQLite store, real DuckDB catalog)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pandas as pd
import pytest

from arlm.errors import ConfigError
from arlm.translation.decode import DecodeConfig
from translation.test_translation_eval import pair_home, tiny_lm_dir, tiny_model_dir

SOURCES = ["In the beginning, God created the heavens and the earth.", "God said, “Let there be light.”"]


@pytest.fixture(scope="module")
def reg(tmp_path_factory):
    root = tmp_path_factory.mktemp("registry") / "arlm-home"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ARLM_HOME", str(root))
        mp.delenv("MLFLOW_TRACKING_URI", raising=False)
        joint = pair_home(root)
        sep = pair_home(root, "separate", vocab_size=350)
        models = tmp_path_factory.mktemp("models")
        yield {
            "home": joint["home"],
            "joint": joint,
            "sep": sep,
            "joint_model": tiny_model_dir(models / "joint", joint["vocab_size"]),
            "sep_model": tiny_model_dir(models / "sep", sep["vocab_size"], sep["src_vocab_size"], seed=1),
            "lm_model": tiny_lm_dir(models / "lm", joint["vocab_size"]),
        }


@pytest.fixture(scope="module")
def logged(reg):
    from arlm.registry import log_model

    return log_model(reg["joint_model"], reg["joint"]["tokenizer_dir"], name="tr")


@pytest.fixture(scope="module")
def champion(reg, logged) -> str:
    from arlm.registry import register_with_gate

    decision = register_with_gate(logged.model_uri, "served-tr", 12.0, "c:test", unigram_bpb=2.0, metric="bleu")
    assert decision.promoted
    return "models:/served-tr@champion"


def _translator(reg):
    from arlm.registry.resolve import translator_from_dirs

    return translator_from_dirs(reg["joint_model"], reg["joint"]["tokenizer_dir"])


def test_logged_translator_has_its_signature_requirements_and_outputs(reg, logged, tmp_path):
    import mlflow
    from mlflow.exceptions import MlflowException
    from mlflow.models import Model

    from arlm.registry import pip_requirements
    from arlm.registry.pyfunc_model import TRANSLATION_PARAM_DEFAULTS

    local = Path(mlflow.artifacts.download_artifacts(logged.model_uri, dst_path=str(tmp_path / "m")))
    mlmodel = Model.load(str(local))
    assert set(mlmodel.flavors["python_function"]["artifacts"]) == {"model", "tokenizer"}  # joint: one tokenizer
    sig = mlmodel.signature
    assert sig.inputs.input_names() == ["source"] and sig.inputs.input_types()[0].name == "string"
    assert {p.name: p.default for p in sig.params.params} == TRANSLATION_PARAM_DEFAULTS
    assert TRANSLATION_PARAM_DEFAULTS["num_beams"] == 4
    assert (local / "requirements.txt").read_text().split() == pip_requirements()  # as light as a language model's
    assert mlmodel.metadata["arlm_task"] == "translation" and "translation model" in mlmodel.metadata["description"]

    model = mlflow.pyfunc.load_model(logged.model_uri)
    expected = _translator(reg).translate(SOURCES, DecodeConfig(num_beams=2))
    assert list(model.predict({"source": SOURCES}, params={"num_beams": 2})) == expected
    assert list(model.predict(pd.DataFrame({"source": SOURCES}), params={"num_beams": 2})) == expected
    default = _translator(reg).translate(SOURCES[:1], DecodeConfig(num_beams=4))
    assert list(model.predict({"source": SOURCES[:1]})) == default  # 4 beams unless told

    with pytest.raises(MlflowException, match="source"):
        model.predict({"prompt": ["x"]})
    with pytest.raises(MlflowException):
        model.predict({"source": [3, 4]})
    with pytest.raises(MlflowException, match="num_beams must be an integer >= 1"):
        model.predict({"source": ["x"]}, params={"num_beams": 0})
    long = " ".join(SOURCES * 30)
    with pytest.raises(MlflowException, match=r"source 1: \d+ tokens, more than this model's limit of 159"):
        model.predict({"source": ["short", long]})
    out = model.predict({"source": ["short", long]}, params={"truncate_source": True, "num_beams": 1})
    assert len(out) == 2 and all(isinstance(s, str) for s in out)


def test_separate_tokenizers_travel_with_the_model(reg, tmp_path):
    import mlflow
    from mlflow.models import Model

    from arlm.registry import log_model
    from arlm.registry.resolve import load_translator

    sep = reg["sep"]
    assert sep["src_tokenizer_dir"] != sep["tokenizer_dir"]
    info = log_model(reg["sep_model"], sep["tokenizer_dir"], src_tokenizer_dir=sep["src_tokenizer_dir"], name="sep")
    local = Path(mlflow.artifacts.download_artifacts(info.model_uri, dst_path=str(tmp_path / "m")))
    assert set(Model.load(str(local)).flavors["python_function"]["artifacts"]) == {
        "model",
        "tokenizer",
        "src_tokenizer",
    }
    translator = load_translator(info.model_uri)
    assert translator.tgt_tokenizer is not None and translator.src_tokenizer is not translator.tgt_tokenizer
    assert translator.src_tokenizer.path.parent.name == "src_tokenizer"
    text = "Y dijo Dios: Sea la luz; y fué la luz. And God said"
    assert translator.src_tokenizer.encode(text) != translator.tgt_tokenizer.encode(text)  # trained on each side
    expected = translator.translate(SOURCES, DecodeConfig(num_beams=2))
    got = mlflow.pyfunc.load_model(info.model_uri).predict({"source": SOURCES}, params={"num_beams": 2})
    assert list(got) == expected
    with pytest.raises(ConfigError, match="src_tokenizer_dir is for translation models"):
        log_model(reg["lm_model"], sep["tokenizer_dir"], src_tokenizer_dir=sep["src_tokenizer_dir"])


def test_gate_on_bleu_needs_the_champion_and_the_copy_baseline_beaten(reg, logged):
    from arlm.registry import register_with_gate, show_model

    def reg_(bleu, copy, split="c:test", name="bleu-gate"):
        return register_with_gate(logged.model_uri, name, bleu, split, unigram_bpb=copy, metric="bleu")

    below = reg_(0.5, 0.8, name="below-copy")
    assert not below.promoted and below.champion_version is None  # never crowned, even with no champion
    assert "0.50 <= 0.80 BLEU of the copy-source baseline on the same test pairs" in below.reason

    first = reg_(5.0, 1.0)
    assert first.promoted and "no champion yet (5.00 > 1.00 BLEU of the copy-source baseline)" in first.reason
    worse = reg_(3.0, 1.0)
    assert not worse.promoted and "3.00 <= 5.00 BLEU of champion v1: no improvement" in worse.reason
    under_copy = reg_(6.0, 6.5)  # beats the champion but not copying the source
    assert not under_copy.promoted and "copy-source baseline" in under_copy.reason
    elsewhere = reg_(9.0, 1.0, split="other:test")
    assert not elsewhere.promoted and "another test split" in elsewhere.reason
    better = reg_(7.5, 1.0)
    assert better.promoted and better.champion_version == "1" and better.champion_value == 5.0
    assert better.metric == "bleu" and better.champion_bpb is None  # bits-per-byte fields stay empty
    md = better.markdown()
    assert "| test BLEU |" in md and "| copy-source baseline (same test pairs) | - | 1.00 |" in md

    info = show_model("bleu-gate")
    assert info["aliases"] == {"challenger": "5", "champion": "5"}
    tags = {v["version"]: v["tags"] for v in info["versions"]}["5"]
    assert float(tags["arlm.test_bleu"]) == 7.5 and float(tags["arlm.test_copy_bleu"]) == 1.0
    assert float(tags["arlm.gate.challenger_bleu"]) == 7.5 and float(tags["arlm.gate.champion_bleu"]) == 5.0
    assert tags["arlm.gate.metric"] == "bleu" and "arlm.test_bpb" not in tags
    with pytest.raises(ConfigError, match="test BLEU must be a finite number"):
        reg_(float("nan"), 1.0)
    with pytest.raises(ConfigError, match="gate metric 'rouge' unknown"):
        register_with_gate(logged.model_uri, "bleu-gate", 1.0, "c:test", metric="rouge")


def test_registration_stage_logs_registers_and_gates_on_test_bleu(reg):
    from arlm.catalog import Catalog
    from arlm.registry import show_model
    from arlm.registry.tracking import ensure_experiment, use_tracking
    from arlm.translation.model_stages import evaluate_translation_stage, register_translation_stage

    home, joint = reg["home"], reg["joint"]
    client = use_tracking(home.mlflow_tracking_uri)

    def training_run() -> dict:
        run_id = client.create_run(ensure_experiment(client)).info.run_id
        return {
            "model_dir": str(reg["joint_model"]),
            "dataset_id": joint["dataset_id"],
            "run_id": "tiny-run",
            "mlflow_run_id": run_id,
            "model": "transformer-seq2seq/tiny",
        }

    summary = training_run()
    metrics = evaluate_translation_stage(
        summary["model_dir"],
        joint["dataset_id"],
        home,
        mlflow_run_id=summary["mlflow_run_id"],
        num_beams=1,
        max_pairs=4,
        progress=lambda m: None,
    )
    lines: list[str] = []
    # an untrained model does not beat copying the source: registered, never crowned
    real = register_translation_stage(summary, metrics, "stage-tr", home, progress=lines.append)
    if metrics["bleu"] <= metrics["copy_bleu"]:
        assert not real["promoted"] and "copy-source baseline" in real["decision_markdown"]
    assert set(real) == {"name", "version", "promoted", "uri", "decision_markdown"}
    assert lines and lines[0].startswith("[register] stage-tr v1")
    assert client.get_run(summary["mlflow_run_id"]).info.status == "FINISHED"

    # the same figures with a BLEU above the baseline: crowned, then a lower one stays challenger
    good = register_translation_stage(training_run(), {**metrics, "bleu": metrics["copy_bleu"] + 5}, "stage-tr", home)
    assert good["promoted"] and good["uri"] == "models:/stage-tr@champion" and good["version"] == 2
    worse = register_translation_stage(training_run(), {**metrics, "bleu": metrics["copy_bleu"] + 1}, "stage-tr", home)
    assert (
        not worse["promoted"]
        and worse["uri"] == "models:/stage-tr/3"
        and "no improvement" in worse["decision_markdown"]
    )

    tags = {v["version"]: v["tags"] for v in show_model("stage-tr")["versions"]}["2"]
    assert tags["arlm.test_split_id"] == metrics["split_id"] == f"{joint['corpus_id']}:test:first-4"
    assert tags["arlm.test_bleu_signature"] == metrics["bleu_signature"]
    assert (
        tags["arlm.corpus_version"] == joint["corpus_id"] and tags["arlm.token_dataset_version"] == joint["dataset_id"]
    )
    assert tags["arlm.language_pair"] == "en-es" and tags["arlm.task"] == "translation"
    rows = Catalog(home.catalog_path).rows("SELECT version FROM models WHERE name = 'stage-tr' ORDER BY version")
    assert [r["version"] for r in rows] == [1, 2, 3]


def test_each_family_is_refused_where_the_other_belongs(reg, logged):
    from arlm.registry import load_generator, log_model
    from arlm.registry.resolve import load_translator, resolve_model_for_eval

    with pytest.raises(ConfigError, match=r"is a translation model \(transformer-seq2seq\), not a language model"):
        load_generator(logged.model_uri)
    with pytest.raises(ConfigError, match="arlm translate"):
        resolve_model_for_eval(logged.model_uri, reg["home"])
    lm = log_model(reg["lm_model"], reg["joint"]["tokenizer_dir"], name="lm")
    with pytest.raises(ConfigError, match=r"is a language model \(gpt\), not a translation model.*arlm generate"):
        load_translator(lm.model_uri)
    translator = load_translator(logged.model_uri)
    assert translator.tags.get("arlm.task") == "translation"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _post(url: str, body: bytes) -> tuple[int, dict]:
    req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def test_served_translator_answers_and_refuses_malformed_requests(reg, champion, tmp_path):
    from arlm.registry.resolve import load_translator

    home = reg["home"]
    port = _free_port()
    # the scoring server execs `uvicorn` from PATH: the venv's bin must be on it (as when activated)
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": home.mlflow_tracking_uri,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    log = open(tmp_path / "serve.log", "wb")
    cmd = [sys.executable, "-m", "mlflow", "models", "serve", "-m", champion, "--env-manager", "local"]
    proc = subprocess.Popen(
        [*cmd, "-h", "127.0.0.1", "-p", str(port), "-w", "1"],
        env=env,
        cwd=tmp_path,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{base}/ping", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            assert proc.poll() is None, (tmp_path / "serve.log").read_text()[-3000:]
            assert time.time() < deadline, "server did not come up in 120 s"
            time.sleep(0.5)
        good = json.dumps({"dataframe_records": [{"source": s} for s in SOURCES], "params": {"num_beams": 2}}).encode()
        status, body = _post(f"{base}/invocations", good)
        assert status == 200, body
        assert body["predictions"] == load_translator(champion).translate(SOURCES, DecodeConfig(num_beams=2))

        status, body = _post(f"{base}/invocations", b'{"dataframe_records": [{"source": ')
        assert 400 <= status < 500 and body.get("message")
        status, body = _post(f"{base}/invocations", json.dumps({"dataframe_records": [{"prompt": "x"}]}).encode())
        assert 400 <= status < 500 and "source" in body.get("message", "")
        status, body = _post(
            f"{base}/invocations", json.dumps({"inputs": {"source": ["x"]}, "params": {"num_beams": 0}}).encode()
        )
        assert 400 <= status < 500 and "num_beams" in body.get("message", "")
        too_long = json.dumps({"inputs": {"source": [" ".join(SOURCES * 30)]}}).encode()
        status, body = _post(f"{base}/invocations", too_long)
        assert 400 <= status < 500 and "limit of 159" in body.get("message", "")

        status, body = _post(f"{base}/invocations", good)  # still serving
        assert status == 200 and len(body["predictions"]) == 2
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
