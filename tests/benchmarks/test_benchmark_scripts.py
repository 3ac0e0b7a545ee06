"""The GPU benchmarks' code paths, run on the CPU at toy sizes so they cannot rot unnoticed:
the same arlm training loop, full-split evaluation and table output that the GPU runs use."""

from __future__ import annotations

import random
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def _run(script: str, *args: str, timeout: int = 300) -> str:
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / script), *args], capture_output=True,
                          text=True, timeout=timeout, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def test_time_to_quality_quick_on_a_small_text(tmp_path):
    rng = random.Random(0)
    words = "to be or not that is the question whether tis nobler in the mind to suffer".split()
    text = "\n".join(" ".join(rng.choice(words) for _ in range(12)) for _ in range(3000))
    corpus = tmp_path / "small.txt"
    corpus.write_text(text, encoding="utf-8")
    out = _run("time_to_quality.py", "--corpus", str(corpus), "--quick", "--max-steps", "50", "--target", "2.5")
    rows = {line.split("|")[1].strip(): line for line in out.splitlines() if line.startswith("| arlm") or
            line.startswith("| nanogpt")}
    assert set(rows) == {"arlm", "nanogpt"}
    for name in rows:  # every evaluation is an exact full-split loss, falling from ~ln(vocab)
        curve = re.search(rf"{name} validation curve \(step:loss\): (.*)", out).group(1)
        losses = [float(x.split(":")[1]) for x in curve.split(", ")]
        assert len(losses) == 2 and losses[-1] < losses[0] < 3.5


def test_time_to_quality_rejects_a_missing_corpus(tmp_path):
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "time_to_quality.py"), "--corpus",
                           str(tmp_path / "nope.txt")], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert proc.returncode == 2 and "nope.txt" in proc.stderr


def test_gpu_train_benchmark_quick_on_cpu():
    out = _run("gpu_train.py", "--quick", "--no-hf", "--configs", "baby", "--recurrent", "gru", "--steps", "5")
    table = [line for line in out.splitlines() if line.startswith("| ")][2:]
    impls = [line.split("|")[2].strip() for line in table]
    assert impls == ["arlm", "arlm", "bare nn.GRU LM"], out
    for line in table:
        assert float(line.split("|")[4].replace(",", "")) > 0  # tokens/s
    assert re.search(r"\| \d+\.\d\dx \|", table[1])  # arlm / bare ratio printed
