"""The GPU benchmarks' code paths, run on the CPU at toy sizes so they cannot rot unnoticed:
the same arlm training loop, full-split evaluation and table output that the GPU runs use."""

from __future__ import annotations

import os
import random
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def _run(script: str, *args: str, timeout: int = 300) -> str:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / script), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def test_time_to_quality_quick_on_a_small_text(tmp_path):
    rng = random.Random(0)
    words = "to be or not that is the question whether tis nobler in the mind to suffer".split()
    text = "\n".join(" ".join(rng.choice(words) for _ in range(12)) for _ in range(3000))
    corpus = tmp_path / "small.txt"
    corpus.write_text(text, encoding="utf-8")
    out = _run("time_to_quality.py", "--corpus", str(corpus), "--quick", "--max-steps", "50", "--target", "2.5")
    rows = {
        line.split("|")[1].strip(): line
        for line in out.splitlines()
        if line.startswith("| arlm") or line.startswith("| nanogpt")
    }
    assert set(rows) == {"arlm", "nanogpt"}
    # quick scales each recipe's evaluation interval: nanogpt's 250 -> 12, arlm's 100 -> 5 (and the end)
    expected_evals = {"nanogpt": [12, 24, 36, 48, 50], "arlm": list(range(5, 51, 5))}
    for name in rows:  # every evaluation is an exact full-split loss, falling from ~ln(vocab)
        curve = re.search(rf"{name} validation curve \(step:loss\): (.*)", out).group(1)
        steps = [int(x.split(":")[0]) for x in curve.split(", ")]
        losses = [float(x.split(":")[1]) for x in curve.split(", ")]
        assert steps == expected_evals[name] and losses[-1] < losses[0] < 3.5
        assert re.search(rf"^\[{name}\] 50 steps \(max_steps\); reached 2.5 at step \d+", out, re.M)
    assert "target (issue 8)" not in out  # judged only at the stated size and schedule


def test_time_to_quality_rejects_an_unknown_setting(tmp_path):
    (tmp_path / "c.txt").write_text("abc " * 1000, encoding="utf-8")
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "time_to_quality.py"),
            "--corpus",
            str(tmp_path / "c.txt"),
            "--quick",
            "--set",
            "muon_lr=2",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert proc.returncode == 2 and "muon_lr is not a TrainConfig field" in proc.stderr


def test_time_to_quality_rejects_a_missing_corpus(tmp_path):
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "time_to_quality.py"), "--corpus", str(tmp_path / "nope.txt")],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert proc.returncode == 2 and "nope.txt" in proc.stderr


def test_gpu_suite_runs_every_step_at_toy_sizes(tmp_path):
    """The one-call GPU suite, in its CPU mode: every step runs, each leaves its table in OUT_DIR,
    relative paths work from another folder, and the exit status says all passed."""
    rng = random.Random(1)
    words = "what light through yonder window breaks it is the east and juliet is the sun".split()
    (tmp_path / "c.txt").write_text(
        "\n".join(" ".join(rng.choice(words) for _ in range(10)) for _ in range(3000)), encoding="utf-8"
    )
    env = {**os.environ, "ARLM_SUITE_QUICK": "1", "PYTHON": sys.executable}
    proc = subprocess.run(
        ["bash", str(ROOT / "benchmarks" / "gpu_suite.sh"), "out", "c.txt"],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=tmp_path,
        env=env,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    steps = ["gpu_train", "ttq_arlm_compiled", "ttq_arlm_eager", "ttq_nanogpt_eager", "ttq_rope", "ttq_schedule"]
    assert re.findall(r"^== (\w+): exit 0 after", proc.stdout, re.M) == steps
    table = [line for line in (tmp_path / "out/gpu_train.txt").read_text().splitlines() if line.startswith("| ")][2:]
    impls = [line.split("|")[2].strip() for line in table]
    assert impls.count("arlm") == 4 and "bare nn.LSTM LM" in impls and "bare nn.GRU LM" in impls, impls
    for line in table:
        assert float(line.split("|")[4].replace(",", "")) > 0  # tokens/s
    with_peer = [
        line
        for line in table
        if line.split("|")[2].strip() == "arlm"
        and (line.split("|")[1].strip().startswith(("lstm", "gru")) or "transformers GPT2LMHeadModel" in impls)
    ]
    assert len(with_peer) >= 2 and all(re.search(r"\| \d+\.\d\dx \|", line) for line in with_peer)  # ratio
    for step in steps[1:]:  # each recipe printed its own line as it ended, then the table
        text = (tmp_path / "out" / f"{step}.txt").read_text()
        assert re.search(r"^\[[+\w]+\] \d+ steps .*best val \d\.\d{4}", text, re.M), text
        assert "| recipe |" in text


def test_gpu_suite_names_a_missing_corpus(tmp_path):
    proc = subprocess.run(
        ["bash", str(ROOT / "benchmarks" / "gpu_suite.sh"), str(tmp_path / "o"), str(tmp_path / "none.txt")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2 and "none.txt" in proc.stderr


def test_ray_overhead_runs_both_paths_side_by_side():
    out = _run("ray_overhead.py", "--steps", "4", "--checkpoint-interval", "2", timeout=600)
    rows = [line for line in out.splitlines() if line.startswith("| ")][2:]
    assert [r.split("|")[1].strip() for r in rows] == ["bare loop (in process)", "Ray Train TorchTrainer, 1 worker"]
    bare, ray = ([float(c.replace(",", "")) for c in r.split("|")[2:8]] for r in rows)
    assert bare[0] == 0.0 and ray[0] > 0  # only the Ray path starts Ray
    assert all(v > 0 for v in bare[1:4] + ray[1:4])  # call s, loop s, tokens/s
    assert ray[1] >= ray[2]  # the call includes the loop
    assert re.search(r"Ray Train's fixed cost: -?\d+\.\d s", out)
