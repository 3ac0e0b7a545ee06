"""``benchmarks/translation.py --quick``: arlm's transformer-seq2seq beside transformers' MarianMTModel
on the committed Bible fixture, a few seconds each, so the benchmark's paths cannot rot. Checks the
table and that both ratio lines are judged (PASS or FAIL), not that arlm wins at this size."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "translation.py"

pytest.importorskip("transformers")
pytest.importorskip("sacrebleu")


def _run(*args: str, timeout: int = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=timeout, cwd=ROOT
    )


def test_quick_prints_the_table_and_both_judged_ratios(tmp_path):
    proc = _run("--quick", "--cache-dir", str(tmp_path))
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    header = next(line for line in out.splitlines() if line.startswith("| model |"))
    columns = [c.strip() for c in header.strip("|").split("|")]
    assert columns[:3] == ["model", "params", "steps"]
    for name in ("train target tok/s", "test BLEU (beam 4)", "test chrF", "translate sent/s"):
        assert name in columns, columns
    rows = {
        line.split("|")[1].strip(): [c.strip() for c in line.strip("|").split("|")]
        for line in out.splitlines()
        if line.startswith("| arlm") or line.startswith("| transformers")
    }
    assert set(rows) == {"arlm transformer-seq2seq/tiny", "transformers MarianMTModel"}, out
    for cells in rows.values():
        assert len(cells) == len(columns)
        values = dict(zip(columns, cells))
        assert int(values["params"].replace(",", "")) > 100_000
        assert int(values["steps"].replace(",", "")) >= 1
        assert float(values["train target tok/s"].replace(",", "")) > 0
        assert 0 <= float(values["test BLEU (beam 4)"]) <= 100 and 0 <= float(values["test chrF"]) <= 100
        assert float(values["translate sent/s"]) > 0
    # the same dimensions: parameter counts within 5% (equal with tiny's fixed positions; learned ones add a few)
    p = [int(dict(zip(columns, c))["params"].replace(",", "")) for c in rows.values()]
    assert abs(p[0] - p[1]) / max(p) < 0.05, p
    for what in ("test BLEU", "training target tokens/s"):
        assert re.search(rf"^ratio arlm/Marian {what}: .* = (\d+\.\d{{3}}|inf) -> (PASS|FAIL)$", out, re.M), out
    assert "tok:13a" in out  # the sacreBLEU signature is printed


def test_help_names_the_options():
    proc = _run("--help", timeout=60)
    assert proc.returncode == 0
    for option in ("--corpus", "--seconds", "--preset", "--quick", "--lr-arlm", "--lr-marian"):
        assert option in proc.stdout


LAYOUTS = ROOT / "benchmarks" / "translation_layouts.py"


def test_layout_study_quick_prints_every_layout_and_optimizer(tmp_path):
    """``benchmarks/translation_layouts.py --quick``: one row per (layout, optimizer), each trained
    the same number of steps and scored by a finite test loss."""
    proc = subprocess.run(
        [sys.executable, str(LAYOUTS), "--quick", "--cache-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = [
        [c.strip() for c in line.strip("|").split("|")]
        for line in proc.stdout.splitlines()
        if line.startswith("| ") and not line.startswith("| layout") and not line.startswith("| ---")
    ]
    assert {(r[0], r[1]) for r in rows} == {(a, b) for a in ("pre", "post", "marian") for b in ("adamw", "muon")}
    for row in rows:
        assert 0 < float(row[5]) < 10, row  # nats per token of a 512-token BPE: below log(512) = 6.2 + margin


def test_layout_study_refuses_an_unknown_layout():
    proc = subprocess.run(
        [sys.executable, str(LAYOUTS), "--layouts", "pre,sandwich"], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 2 and "sandwich" in proc.stderr and "pre, post, marian" in proc.stderr
