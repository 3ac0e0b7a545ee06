"""``benchmarks/train_ops.py --quick``: every row of the stock-vs-arlm op table is timed both ways
and its ratio is the quotient of the two timings (the paths, not which side wins at toy sizes)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_quick_times_every_op_both_ways():
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "train_ops.py"), "--quick"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = [line for line in proc.stdout.splitlines() if line.startswith("| ")][2:]
    names = [r.split("|")[1].strip() for r in rows]
    assert [n.split(":")[0] for n in names] == [
        "cross-entropy, label smoothing 0.1",
        "dropout 0.1",
        "attention, dropout 0.1, padding mask",
        "training step, transformer-seq2seq/tiny",
        "training step, gpt/tiny (dropout 0.1)",
    ]
    for r in rows:
        stock, ours, ratio = (float(c) for c in r.split("|")[2:5])
        assert stock > 0 and ours > 0
        # each figure is printed to 2 decimals: the ratio lies within what that rounding allows
        assert (stock - 0.005) / (ours + 0.005) - 0.005 <= ratio <= (stock + 0.005) / (ours - 0.005) + 0.005
