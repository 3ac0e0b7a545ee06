"""Normal output: no traceback when the reader of stdout goes away (`arlm ... | head`)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from faults.faultkit import ARLM, isolated_env


def test_closed_stdout_pipe_gives_no_traceback(tmp_path: Path):
    env = isolated_env(tmp_path)
    # 200k lines, far more than a pipe buffer: the writer is still writing when `head` exits
    writer = subprocess.Popen(
        [*ARLM, "--home", str(tmp_path / "home"), "catalog", "sql", "SELECT range FROM range(200000)"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    head = subprocess.run(["head", "-n", "3"], stdin=writer.stdout, capture_output=True, timeout=120)
    writer.stdout.close()
    err = writer.stderr.read().decode()
    code = writer.wait(timeout=120)
    assert len(head.stdout.splitlines()) == 3
    assert "Traceback" not in err and "BrokenPipeError" not in err, err
    assert code in (0, 141), (code, err)
