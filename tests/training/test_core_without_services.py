"""The training core runs where only torch, numpy and safetensors are: the GPU machines' image has
no Prefect, Ray, MLflow, DuckDB or pydantic, and the GPU benchmarks must run there. Each test runs
a fresh interpreter in which importing any of those raises ImportError, then trains, saves, loads
and generates."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BLOCKER = """
import importlib.abc, sys
BLOCKED = {"prefect", "ray", "mlflow", "duckdb", "pydantic"}
ATTEMPTS = []  # every blocked import tried, even one whose ImportError the caller swallowed
class _Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            ATTEMPTS.append(name)
            raise ImportError(f"{name} is not installed here (blocked by the test)")
        return None
sys.meta_path.insert(0, _Block())
"""


def _python(code: str, tmp_path: Path, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", BLOCKER + textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=tmp_path,
    )


def test_the_blocker_really_blocks(tmp_path):
    proc = _python("import duckdb", tmp_path)
    assert proc.returncode != 0 and "blocked by the test" in proc.stderr


def test_train_load_and_generate_without_the_platform_services(tmp_path):
    proc = _python(
        f"""
        import json, sys
        import numpy as np
        from arlm.tokenizers import token_dataset_from_arrays
        from arlm.training import TrainConfig, train
        from arlm.models import load_model
        from arlm.generation import GenerationConfig, generate

        rng = np.random.default_rng(0)
        ids = np.tile(np.arange(20), 400) + rng.integers(0, 2, 8000)
        data = token_dataset_from_arrays({str(tmp_path / "ds")!r}, {{"train": ids[:7000], "val": ids[7000:]}},
                                         vocab_size=24, eot_id=0, pad_id=1, source="test").path
        cfg = TrainConfig(model="gpt", model_overrides=dict(n_layer=1, n_head=2, n_embd=32), batch_size=8,
                          block_size=32, max_steps=40, lr=1e-2, warmup_steps=4, eval_interval=20, eval_full=True,
                          optimizer="muon", dtype="bfloat16", log_interval=10)
        result = train(cfg, data, {str(tmp_path / "run")!r})
        model = load_model(result.latest_checkpoint)
        out = generate(model, [[0, 1, 2, 3]], GenerationConfig(max_new_tokens=6))
        print(json.dumps({{"val": result.history[-1]["val_loss"], "first": result.history[0]["train_loss"],
                          "out": out, "attempts": ATTEMPTS}}))
        """,
        tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert got["attempts"] == []  # not even tried: nothing on this path needs them
    assert got["val"] < got["first"] - 0.5  # it learned the counting pattern
    assert len(got["out"][0]) == 6 and all(0 <= t < 24 for t in got["out"][0])


@pytest.mark.slow
def test_gpu_benchmark_quick_path_without_the_platform_services(tmp_path):
    script = ROOT / "benchmarks" / "gpu_train.py"
    proc = _python(
        f"""
        import runpy, sys
        sys.argv = [{str(script)!r}, "--quick", "--no-hf", "--configs", "baby", "--recurrent", "lstm", "--steps", "5"]
        try:
            runpy.run_path({str(script)!r}, run_name="__main__")
        except SystemExit as exc:
            assert not exc.code, exc.code
        """,
        tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = [line for line in proc.stdout.splitlines() if line.startswith("| ")][2:]
    assert [r.split("|")[2].strip() for r in rows] == ["arlm", "arlm", "bare nn.LSTM LM"], proc.stdout
