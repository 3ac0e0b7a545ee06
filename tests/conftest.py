"""Shared test set-up: every test gets its own project home; telemetry off; real services."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

# Offline machine: telemetry of the stack must never be attempted (see docs/stack.md).
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "90")
os.environ.setdefault("PREFECT_RUNNER_POLL_FREQUENCY", "2")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REQUIRE_SERVICES = os.environ.get("ARLM_REQUIRE_SERVICES") == "1"


def need_service(ok: bool, why: str) -> None:
    """Skip with a visible reason when a service is missing; fail instead under ARLM_REQUIRE_SERVICES=1."""
    if ok:
        return
    if REQUIRE_SERVICES:
        pytest.fail(f"required service missing (ARLM_REQUIRE_SERVICES=1): {why}")
    pytest.skip(why)


@pytest.fixture()
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A fresh project home under tmp, exported as ARLM_HOME; MLflow store inside it."""
    from arlm.home import get_home

    root = tmp_path / "arlm-home"
    monkeypatch.setenv("ARLM_HOME", str(root))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return get_home(root).ensure()


@pytest.fixture(scope="module")
def ray_tasks():
    """This process connected to a small local Ray for one test module (Ray tasks, no Train);
    shut down after the module unless someone else had started it."""
    import ray

    started = not ray.is_initialized()
    if started:
        ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield ray
    if started:
        ray.shutdown()


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    """Where tests leave files worth keeping (screenshots, reports): ./test-artifacts."""
    p = Path(__file__).resolve().parent.parent / "test-artifacts"
    p.mkdir(exist_ok=True)
    return p


@pytest.fixture()
def small_text_dir(tmp_path: Path) -> Path:
    """A folder of a few small English text files (from this repo's docs + generated prose)."""
    d = tmp_path / "texts"
    d.mkdir()
    words = (
        "the model reads text and learns to predict the next token from the ones before it "
        "so that it can write new text one token at a time "
    ).split()
    import random

    rng = random.Random(0)
    for i in range(12):
        lines = [" ".join(rng.choice(words) for _ in range(rng.randint(8, 20))) + "." for _ in range(30)]
        (d / f"doc{i:02d}.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return d


def copy_tree(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst
