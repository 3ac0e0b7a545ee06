"""The registered model served over HTTP, and loaded in a fresh virtual environment (both slow)."""

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

import pytest

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def champion(mlflow_home, tokenizer_dir, make_model_dir) -> str:
    from arlm.registry import log_model, register_with_gate

    info = log_model(make_model_dir(1), tokenizer_dir, name="served", metrics={"test_bits_per_byte": 3.0})
    register_with_gate(info.model_uri, "served", 3.0, "d1:test")
    return "models:/served@champion"


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


def _expected(uri: str, prompts: list[str], n: int) -> list[str]:
    from arlm.generation import GenerationConfig
    from arlm.registry import load_generator

    return load_generator(uri).generate(prompts, GenerationConfig(max_new_tokens=n))


def test_served_model_answers_over_http_and_survives_bad_requests(champion, mlflow_home, tmp_path):
    port = _free_port()
    # the scoring server execs `uvicorn` from PATH: the venv's bin must be on it (as when activated)
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": mlflow_home.mlflow_tracking_uri,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    log = open(tmp_path / "serve.log", "wb")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mlflow",
            "models",
            "serve",
            "-m",
            champion,
            "--env-manager",
            "local",
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
            "-w",
            "1",
        ],
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
        good = json.dumps(
            {"dataframe_records": [{"prompt": "the model"}, {"prompt": "text"}], "params": {"max_new_tokens": 5}}
        ).encode()
        status, body = _post(f"{base}/invocations", good)
        assert status == 200, body
        assert body["predictions"] == _expected(champion, ["the model", "text"], 5)

        status, body = _post(f"{base}/invocations", b'{"dataframe_records": [{"prompt": ')
        assert 400 <= status < 500 and body.get("message")
        status, body = _post(
            f"{base}/invocations",
            json.dumps({"dataframe_records": [{"prompt": "x"}], "params": {"top_p": 7.0}}).encode(),
        )
        assert 400 <= status < 500 and "top_p" in body.get("message", "")
        status, body = _post(f"{base}/invocations", json.dumps({"dataframe_records": [{"prompt": ""}]}).encode())
        assert 400 <= status < 500 and "empty" in body.get("message", "")

        status, body = _post(f"{base}/invocations", good)  # still serving
        assert status == 200 and len(body["predictions"]) == 2
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def test_fresh_venv_with_only_pip_requirements_loads_and_predicts(champion, mlflow_home, tmp_path):
    import mlflow

    local = Path(mlflow.artifacts.download_artifacts(champion, dst_path=str(tmp_path / "model")))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    py = venv / "bin" / "python"
    pip = subprocess.run(
        [str(py), "-m", "pip", "install", "-q", "-r", str(local / "requirements.txt")],
        capture_output=True,
        text=True,
        timeout=900,
    )
    if pip.returncode != 0:
        if any(w in pip.stderr for w in ("Could not find a version", "connection", "Connection", "resolve")):
            pytest.skip(f"pip install of the model's requirements failed (network?): {pip.stderr[-500:]}")
        pytest.fail(pip.stderr[-2000:])
    script = f"""
import importlib.util, json, sys
assert importlib.util.find_spec("arlm") is None, "arlm must come with the model, not the venv"
for mod in ("prefect", "ray", "duckdb"):
    assert importlib.util.find_spec(mod) is None, mod + " installed in the fresh venv"
import mlflow.pyfunc, pandas as pd
m = mlflow.pyfunc.load_model({str(local)!r})
out = m.predict(pd.DataFrame({{"prompt": ["the model", "text"]}}), params={{"max_new_tokens": 5}})
loaded = sorted(k for k in sys.modules if k.split(".")[0] in ("prefect", "ray", "duckdb", "arlm"))
print(json.dumps({{"out": list(out), "modules": loaded}}))
"""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "ARLM_HOME", "VIRTUAL_ENV")}
    run = subprocess.run(
        [str(py), "-c", script],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
        env={**env, "MLFLOW_DISABLE_TELEMETRY": "true"},
    )
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert result["out"] == _expected(champion, ["the model", "text"], 5)
    assert all(m.startswith("arlm") for m in result["modules"])
    assert "arlm.generation.decode" in result["modules"]
