"""Bad input to `arlm pipeline`: one clear line, a non-zero exit, nothing written."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ARLM = [sys.executable, "-m", "arlm.cli.main"]


def _run(home: Path, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([*ARLM, "--home", str(home), *args], capture_output=True, text=True, timeout=300, cwd=cwd)


def _nothing_written(home: Path) -> bool:
    """No catalog, no lake version, no tokenizer, no run (the home itself may not even exist)."""
    if not home.exists():
        return True
    # procs/: the process watcher's record of a running command (removed when it ends)
    written = [p for p in home.rglob("*") if p.is_file() and not {"cache", "procs"} & set(p.parts)]
    return not written


@pytest.mark.parametrize(
    "args, expect",
    [
        (["--corpus", "/nonexistent/corpus.txt"], "/nonexistent/corpus.txt"),
        (["--max-seconds", "0"], "max_seconds must be a positive number"),
        (["--workers", "0"], "--workers"),
        (["--model", "transformerxl"], "valid kinds"),
        (["--name", "x" * 300], "--name: model name: at most 100 characters"),  # was 192 lines of OSError
        (["--model", "gpt/"], "empty preset"),
    ],
)
def test_pipeline_rejects_bad_input_cleanly(tmp_path, args, expect):
    home = tmp_path / "home"
    proc = _run(home, "pipeline", *args)
    assert proc.returncode == 2
    err = proc.stderr.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("arlm: error:"), proc.stderr
    assert expect in err[0]
    assert "Traceback" not in proc.stderr
    assert _nothing_written(home)


def test_pipeline_rejects_folder_without_text(tmp_path):
    home = tmp_path / "home"
    empty = tmp_path / "empty"
    empty.mkdir()
    proc = _run(home, "pipeline", "--corpus", str(empty))
    assert proc.returncode == 2
    assert str(empty) in proc.stderr and "Traceback" not in proc.stderr
    assert _nothing_written(home)


def test_help_lists_every_command():
    proc = subprocess.run([*ARLM, "--help"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0
    for cmd in (
        "pipeline",
        "ingest",
        "catalog",
        "tokenizer",
        "tokenize",
        "train",
        "compare",
        "evaluate",
        "generate",
        "models",
        "infra",
        "deploy",
    ):
        assert cmd in proc.stdout, cmd


@pytest.mark.slow
def test_pipeline_folder_of_binary_files_fails_inside_the_flow_cleanly(tmp_path):
    """Detected only when reading (inside the Prefect flow): still one clear last line, exit 2,
    no retries of a user error, and nothing left in lake or catalog."""
    import os

    home = tmp_path / "home"
    binary = tmp_path / "binary"
    binary.mkdir()
    (binary / "a.bin").write_bytes(os.urandom(4000))
    (binary / "b.dat").write_bytes(bytes(range(256)) * 8)
    proc = _run(home, "pipeline", "--corpus", str(binary))
    assert proc.returncode == 2
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("arlm: error:")]
    assert len(errors) == 1 and str(binary) in errors[0] and "binary" in errors[0]
    assert "Retry 1/" not in proc.stderr
    assert "Traceback" not in proc.stderr and "DataError" not in proc.stderr  # Prefect's report of it: hidden
    assert _nothing_written(home)


@pytest.mark.parametrize("command", ["pipeline", "train", "compare"])
def test_training_options_reach_the_train_config(command):
    from arlm.cli.main import build_parser
    from arlm.cli.pipeline_cmds import params_from_args
    from arlm_flows.params import CompareParams, PipelineParams, TrainFlowParams
    from arlm_flows.pipeline import train_config_from

    args = build_parser().parse_args(
        [command, "--optimizer", "adamw", "--lr", "0.003", "--max-steps", "7", "--batch-size", "12"]
    )
    params = params_from_args(
        {"pipeline": PipelineParams, "train": TrainFlowParams, "compare": CompareParams}[command], args
    )
    cfg = train_config_from(params)
    assert (cfg.optimizer, cfg.lr, cfg.max_steps, cfg.batch_size) == ("adamw", 0.003, 7, 12)
    default = train_config_from(params_from_args(PipelineParams, build_parser().parse_args(["pipeline"])))
    assert default.optimizer == "muon"  # the product default, TrainConfig's too (arlm.defaults)
    assert PipelineParams().optimizer == "muon"
