"""Interrupted training resumes: through the train stage (Ray Train + MLflow), the same command
after a kill continues the same run folder and MLflow run from its time-interval checkpoint and
ends with the very weights of an uninterrupted run; a step budget makes the model reproducible."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import threading
import time
from pathlib import Path

import pytest

from testkit import build_token_dataset, write_prose_corpus

pytestmark = pytest.mark.slow


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_killed_training_resumes_bit_identical_in_the_same_run(home, tmp_path, local_ray):
    import mlflow

    from arlm.stages import train_stage
    from arlm.training import TrainConfig
    from arlm.training.ray_launcher import RayOptions

    dataset = build_token_dataset(home, write_prose_corpus(tmp_path / "corpus"))
    # a checkpoint every 10 of 100 steps: the killer strikes after the first one, long before the
    # end, whatever the machine's load (the time-interval checkpoint has its own test in test_train)
    cfg = TrainConfig(
        model="gpt/tiny",
        batch_size=8,
        block_size=32,
        max_steps=100,
        eval_interval=25,
        eval_batches=2,
        log_interval=5,
        checkpoint_interval=10,
    )
    ray_opts = RayOptions(num_workers=1, cpus_per_worker=1, max_failures=0)
    quiet = lambda m: None  # noqa: E731

    whole = train_stage(cfg, dataset, home, ray_opts, run_name="det", progress=quiet)
    assert whole["steps"] == 100 and whole["stopped_by"] == "max_steps" and whole["resumed_from_step"] is None
    run_dir = Path(whole["out_dir"])
    assert run_dir.name.startswith("det-") and (run_dir / "run.json").is_file()

    # the same command again: the finished run is left alone and a new one goes beside it; kill its
    # worker (rank 0, by pid) right after its first checkpoint, with no Ray retry left
    second_dir = run_dir.with_name(run_dir.name + "-2")
    killed: dict = {}

    def killer():
        deadline = time.time() + 300
        while time.time() < deadline:
            workers = second_dir / "workers.jsonl"
            if (second_dir / "checkpoints" / "latest").exists() and workers.exists():
                killed["pid"] = json.loads(workers.read_text().splitlines()[0])["pid"]
                os.kill(killed["pid"], signal.SIGKILL)
                return
            time.sleep(0.05)

    t = threading.Thread(target=killer, daemon=True)
    t.start()
    with pytest.raises(Exception):  # noqa: B017  (Ray Train's failure, whatever its class)
        train_stage(cfg, dataset, home, ray_opts, run_name="det", progress=quiet)
    t.join(timeout=5)
    assert killed.get("pid"), "the worker was never killed"
    assert not (second_dir / "summary.json").exists()
    mlflow_run_id = json.loads((second_dir / "run.json").read_text())["mlflow_run_id"]
    client = mlflow.MlflowClient(home.mlflow_tracking_uri)
    assert client.get_run(mlflow_run_id).info.status == "FAILED"

    # and once more: it resumes that run, in its folder and MLflow run, from its checkpoint
    said: list[str] = []
    resumed = train_stage(cfg, dataset, home, ray_opts, run_name="det", progress=said.append)
    assert resumed["out_dir"] == str(second_dir) and resumed["mlflow_run_id"] == mlflow_run_id
    step = resumed["resumed_from_step"]
    assert 0 < step < 100, said
    assert f"[train] resuming run {second_dir.name} from step {step}; MLflow run {mlflow_run_id}" in said
    assert resumed["steps"] == 100 and resumed["stopped_by"] == "max_steps"
    assert client.get_run(mlflow_run_id).info.status == "RUNNING"  # reopened; register ends it
    result = json.loads((second_dir / "result.json").read_text())
    assert result["restarts"] == 1  # the loop restored the checkpoint instead of starting over
    steps = [h["step"] for h in result["history"] if h["kind"] in ("train", "eval")]
    assert steps == sorted(set(steps)) and steps[-1] == 100

    # bit for bit the uninterrupted run's weights: exact resume, and the same command, same model
    import torch
    from safetensors.torch import load_file

    for name in ("best", "latest"):
        a = run_dir / "checkpoints" / name / "model.safetensors"
        b = second_dir / "checkpoints" / name / "model.safetensors"
        ta, tb = load_file(str(a)), load_file(str(b))
        assert ta.keys() == tb.keys() and all(torch.equal(ta[k], tb[k]) for k in ta), name
        # and the very same file: what the registry's sha256 and the catalog see
        assert sha256(a) == sha256(b), f"{name}: same tensors, different bytes (safetensors header order?)"
