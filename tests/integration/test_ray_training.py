"""Ray Train around the one training loop: DDP equivalence, worker failure, a 2-node cluster."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

from testkit import build_token_dataset, write_prose_corpus

pytestmark = pytest.mark.slow


@pytest.fixture()
def dataset(home, tmp_path):
    return build_token_dataset(home, write_prose_corpus(tmp_path / "corpus"))


def _train(home, dataset_id, cfg, workers, **opts):
    from arlm.training.ray_launcher import RayOptions, train_with_ray

    out = home.runs / f"t-{workers}-{time.time_ns()}"
    return train_with_ray(
        cfg,
        home.tokens / dataset_id,
        out,
        options=RayOptions(num_workers=workers, cpus_per_worker=1, **opts),
        storage_path=home.ray_storage,
        run_name="test",
    )


def _losses(result) -> list[float]:
    return [h["train_loss"] for h in result.result["history"] if h.get("train_loss") is not None]


def test_two_workers_match_one_worker_same_global_batch(home, dataset, local_ray):
    from arlm.training import TrainConfig

    cfg = TrainConfig(
        model="gpt/tiny",
        model_overrides={"dropout": 0.0},
        batch_size=8,
        block_size=32,
        max_steps=6,
        log_interval=1,
        eval_interval=100,
        warmup_steps=0,
        seed=3,
    )
    one = _train(home, dataset, cfg, 1)
    two = _train(home, dataset, cfg, 2)
    assert {w["world_size"] for w in two.workers} == {2}
    a, b = _losses(one), _losses(two)
    assert len(a) == len(b) >= 6
    assert a[-1] < a[0]  # it learns
    for x, y in zip(a, b):
        assert abs(x - y) <= 1e-4 * max(1.0, abs(x)), (a, b)


def test_worker_killed_mid_run_resumes_from_checkpoint(home, dataset, local_ray):
    """Through the train stage, as the pipeline runs it: rank 0's process is killed by its pid
    after the first checkpoint; Ray restarts the worker group, the loop restores the checkpoint,
    the run completes, and the stage records one restart in the MLflow run."""
    from arlm.stages import train_stage
    from arlm.training import TrainConfig
    from arlm.training.ray_launcher import RayOptions

    cfg = TrainConfig(
        model="gpt/tiny",
        batch_size=8,
        block_size=32,
        max_steps=120,
        checkpoint_interval=10,
        eval_interval=40,
        log_interval=5,
    )
    before = set(home.runs.iterdir()) if home.runs.exists() else set()
    killed: dict = {}

    def killer():
        # wait for the stage's run folder and its first checkpoint, then kill rank 0 by its pid
        deadline = time.time() + 240
        while time.time() < deadline:
            for out in (set(home.runs.iterdir()) if home.runs.exists() else set()) - before:
                workers = out / "workers.jsonl"
                if (out / "checkpoints" / "latest").exists() and workers.exists():
                    first = json.loads(workers.read_text().splitlines()[0])
                    killed["pid"] = first["pid"]
                    os.kill(first["pid"], signal.SIGKILL)
                    return
            time.sleep(0.2)

    t = threading.Thread(target=killer, daemon=True)
    t.start()
    summary = train_stage(
        cfg, dataset, home, RayOptions(num_workers=1, cpus_per_worker=1, max_failures=2), run_name="killed"
    )
    t.join(timeout=5)
    assert killed.get("pid"), "the worker was never killed (no checkpoint appeared?)"
    assert summary["restarts"] == 1 and summary["steps"] == 120
    starts = [json.loads(x) for x in (Path(summary["out_dir"]) / "workers.jsonl").read_text().splitlines()]
    assert len(starts) == 2 and starts[-1]["pid"] != killed["pid"]
    # the new worker went on from the checkpoint, not from scratch: the loop counted one resume,
    # and its history (restored from the checkpoint) has every logged step once, in order
    result = json.loads((Path(summary["out_dir"]) / "result.json").read_text())
    assert result["restarts"] == 1
    steps = [h["step"] for h in result["history"] if h["kind"] in ("train", "eval")]
    assert steps == sorted(set(steps)) and steps[0] == 5 and steps[-1] == 120
    import mlflow

    run = mlflow.MlflowClient(home.mlflow_tracking_uri).get_run(summary["mlflow_run_id"])
    assert run.data.metrics["restarts"] == 1
    assert run.data.tags["arlm.token_dataset_version"] == dataset
    # the loop reported a checkpoint to Ray every 10 of the 120 steps (12 and more); Ray's storage
    # keeps the newest RayOptions.keep_checkpoints of them, plus at most one that the killed worker
    # had uploaded but not yet reported: disk use stays bounded however long the run
    kept = sorted(p for p in Path(home.ray_storage).rglob("checkpoint_*") if p.is_dir())
    assert 1 <= len(kept) <= RayOptions().keep_checkpoints + 1 < 120 // 10, kept


def _stop_ray_under(temp_dir: str) -> None:
    """Kill the processes of the Ray nodes whose session lives under ``temp_dir``, only those."""
    import psutil

    victims = []
    for proc in psutil.process_iter(["pid", "cmdline"]):
        if proc.pid != os.getpid() and temp_dir in " ".join(proc.info["cmdline"] or []):
            victims.append(proc)
    for proc in victims:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    psutil.wait_procs(victims, timeout=15)
    shutil.rmtree(temp_dir, ignore_errors=True)


def _ray(*args, env):
    return subprocess.run(
        [str(Path(sys.executable).parent / "ray"), *args], env=env, capture_output=True, text=True, timeout=120
    )


def test_two_node_cluster_one_worker_per_node(home, tmp_path):
    """`ray start --head` + `ray start --address` on this machine; `arlm train --ray-address`."""
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0", "ARLM_HOME": str(home.root)}
    port = "6391"
    mem = ["--memory", str(1 << 30), "--object-store-memory", str(200 << 20)]
    # A temp dir of its own: its processes are found by it and stopped alone. `ray stop` would
    # stop every Ray on the machine, this test process's own local Ray (and with it the process).
    temp = tempfile.mkdtemp(prefix="arlm-2node-", dir="/tmp")
    try:
        r = _ray(
            "start",
            "--head",
            "--port",
            port,
            "--num-cpus",
            "1",
            "--include-dashboard",
            "false",
            "--node-ip-address",
            "127.0.0.1",
            "--temp-dir",
            temp,
            *mem,
            env=env,
        )
        assert r.returncode == 0, r.stderr[-2000:]
        r = _ray(
            "start",
            "--address",
            f"127.0.0.1:{port}",
            "--num-cpus",
            "1",
            "--node-ip-address",
            "127.0.0.1",
            *mem,
            env=env,
        )
        assert r.returncode == 0, r.stderr[-2000:]
        corpus = write_prose_corpus(tmp_path / "corpus", n_docs=20)
        proc = subprocess.run(
            [
                str(Path(sys.executable).parent / "arlm"),
                "train",
                "--corpus",
                str(corpus),
                "--vocab-size",
                "512",
                "--model",
                "gpt/tiny",
                "--max-steps",
                "10",
                "--batch-size",
                "8",
                "--block-size",
                "32",
                "--workers",
                "2",
                "--ray-address",
                f"127.0.0.1:{port}",
                "--spread",
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert proc.returncode == 0, proc.stderr[-4000:]
        summary = json.loads(proc.stdout[proc.stdout.index("{") :])
        starts = [json.loads(x) for x in (Path(summary["out_dir"]) / "workers.jsonl").read_text().splitlines()]
        assert len({w["node_id"] for w in starts}) == 2, starts
        assert summary["steps"] == 10
    finally:
        _stop_ray_under(temp)
