"""benchmarks/hf_roundtrip.py --quick runs (so the 124M benchmark cannot rot) and checks its logits."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_roundtrip_benchmark_quick():
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "hf_roundtrip.py"), "--quick", "--threads", "1"],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for step in ("build", "save_pretrained", "import", "compare logits", "export", "reload"):
        assert f"| {step}" in proc.stdout, proc.stdout
    assert "max |logit difference|" in proc.stdout
