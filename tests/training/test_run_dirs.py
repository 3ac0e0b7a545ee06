"""Run folders the same command finds again: deterministic ids, resume=auto|never, a live run never
resumed twice, a SIGKILLed one always resumable, a finished one never touched."""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest

from arlm.errors import ConfigError
from arlm.stages import SUMMARY_FILE, claim_run_dir, run_base_id
from arlm.training import TrainConfig


def test_the_run_id_is_a_function_of_name_config_and_dataset():
    cfg = TrainConfig(max_steps=100)
    base = run_base_id("arlm-gpt", cfg, "ds1")
    assert base == run_base_id("arlm-gpt", TrainConfig(max_steps=100), "ds1")
    assert base.startswith("arlm-gpt-") and len(base) == len("arlm-gpt-") + 10
    others = {
        run_base_id("arlm-gpt", TrainConfig(max_steps=101), "ds1"),
        run_base_id("arlm-gpt", cfg, "ds2"),
        run_base_id("other", cfg, "ds1"),
    }
    assert base not in others and len(others) == 3


def test_auto_resumes_the_unfinished_run_and_never_a_finished_or_live_one(tmp_path):
    runs = tmp_path / "runs"
    first = claim_run_dir(runs, "r", "auto")
    assert first.run_id == "r" and not first.resumed
    # held by a live trainer (this very process, another open file): a second command goes beside it
    second = claim_run_dir(runs, "r", "auto")
    assert second.run_id == "r-2" and not second.resumed
    first.release()
    again = claim_run_dir(runs, "r", "auto")  # the first was interrupted: continue it
    assert again.run_id == "r" and again.resumed
    (again.path / SUMMARY_FILE).write_text("{}")
    again.release()
    second.release()
    assert claim_run_dir(runs, "r", "auto").run_id == "r-2"  # r is finished; r-2 was not
    fresh = claim_run_dir(runs, "r", "never")
    assert fresh.run_id == "r-3" and not fresh.resumed
    with pytest.raises(ConfigError, match="--resume must be one of auto, never"):
        claim_run_dir(runs, "r", "sometimes")


def test_a_sigkilled_holder_leaves_its_run_resumable(tmp_path):
    runs = tmp_path / "runs"
    (runs / "r").mkdir(parents=True)
    code = (
        "import fcntl, os, sys, time\n"
        f"fd = os.open({str(runs / 'r' / '.lock')!r}, os.O_RDWR | os.O_CREAT)\n"
        "fcntl.flock(fd, fcntl.LOCK_EX)\nprint('locked', flush=True)\ntime.sleep(60)\n"
    )
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        beside = claim_run_dir(runs, "r", "auto")
        assert beside.run_id == "r-2"  # r is in use by a live process
        beside.release()
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=10)
        resumed = claim_run_dir(runs, "r", "auto")
        assert resumed.run_id == "r" and resumed.resumed  # the kernel dropped the dead holder's lock
        resumed.release()
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()


def test_the_pipeline_output_says_what_stopped_the_training():
    from arlm.cli.pipeline_cmds import training_line

    capped = training_line(
        {
            "steps": 310,
            "wall_seconds": 60.2,
            "stopped_by": "max_seconds",
            "resumed_from_step": None,
            "run_id": "arlm-gpt-0123456789",
        }
    )
    assert "310 steps" in capped and "stopped by max_seconds" in capped and "time cap" in capped
    full = training_line(
        {"steps": 1200, "wall_seconds": 300, "stopped_by": "max_steps", "resumed_from_step": 400, "run_id": "r"}
    )
    assert "stopped by max_steps, resumed from step 400" in full and "time cap" not in full
