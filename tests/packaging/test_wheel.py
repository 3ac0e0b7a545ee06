"""The built wheel works with no checkout: `python -m build`, the wheel installed into a fresh venv
in a temporary folder, and from a working directory outside the checkout `arlm pipeline` trains to a
registered model, and `arlm deploy` applies the prefect.yaml shipped in the wheel to a Prefect
server whose worker then runs a deployment from the installed package.

To keep the install short, the fresh venv gets the wheel alone (`pip install --no-deps --no-index`)
and sees the dependencies of the test's own environment through a ``.pth`` line placed after its
own site-packages. That line adds a folder to ``sys.path`` without running the ``.pth`` files in
it, so the editable install of this checkout stays inactive there, and the tests check that arlm,
arlm_flows and the package data are all loaded from the new venv. (A full `pip install` of the
wheel with every dependency takes minutes: see the README, "Install from a wheel".)
"""

from __future__ import annotations

import importlib.metadata
import json
import socket
import subprocess
import sys
import sysconfig
import time
import zipfile
from pathlib import Path

import pytest

from faults.faultkit import isolated_env, write_corpus

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]


class Installed:
    """The wheel installed in a venv outside the checkout, and how to run its commands."""

    def __init__(self, root: Path, venv: Path, wheel: Path, times: dict[str, float]):
        self.root, self.venv, self.wheel, self.times = root, venv, wheel, times
        self.cwd = root / "cwd"  # the working directory of every command: outside the checkout
        self.cwd.mkdir(exist_ok=True)

    @property
    def bin(self) -> Path:
        return self.venv / "bin"

    def env(self, **extra: str) -> dict[str, str]:
        """The fault tests' isolated environment (own PREFECT_HOME, telemetry off), without the
        PYTHONPATH that points into the checkout."""
        env = isolated_env(self.root, RAY_AUTH_MODE="disabled", **extra)
        env.pop("PYTHONPATH", None)
        return env

    def run(self, *argv: str, timeout: float, check: bool = True, **extra_env: str) -> subprocess.CompletedProcess:
        proc = subprocess.run(
            list(argv), cwd=self.cwd, env=self.env(**extra_env), capture_output=True, text=True, timeout=timeout
        )
        if check and proc.returncode != 0:
            raise AssertionError(
                f"{' '.join(argv)} exited {proc.returncode}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
            )
        return proc

    def arlm(self, home: Path, *args: str, timeout: float = 300, **extra_env: str) -> subprocess.CompletedProcess:
        return self.run(str(self.bin / "arlm"), "--home", str(home), *args, timeout=timeout, **extra_env)


def _timed(times: dict[str, float], key: str, argv: list[str], **kw) -> subprocess.CompletedProcess:
    t0 = time.monotonic()
    proc = subprocess.run(argv, capture_output=True, text=True, **kw)
    times[key] = round(time.monotonic() - t0, 2)
    assert proc.returncode == 0, f"{' '.join(map(str, argv))}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


def _console_script(bin_dir: Path, name: str) -> None:
    """What pip writes for a dependency's console script, pointed at the new venv's interpreter
    (the dependencies are not installed there, so pip did not write it)."""
    ep = next(e for e in importlib.metadata.entry_points(group="console_scripts") if e.name == name)
    script = bin_dir / name
    script.write_text(f"#!{bin_dir / 'python'}\nimport sys\nfrom {ep.module} import {ep.attr}\nsys.exit({ep.attr}())\n")
    script.chmod(0o755)


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Installed:
    root = tmp_path_factory.mktemp("wheel")
    assert not root.resolve().is_relative_to(REPO)
    times: dict[str, float] = {}
    dist = root / "dist"
    # sdist first, then the wheel built from the unpacked sdist: what `python -m build` does
    _timed(
        times,
        "build_s",
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(dist), str(REPO)],
        cwd=root,
        timeout=600,
    )
    wheel = next(dist.glob("arlm-*.whl"))
    venv = root / "venv"
    _timed(times, "venv_s", [sys.executable, "-m", "venv", "--without-pip", str(venv)], timeout=120)
    py = venv / "bin" / "python"
    _timed(
        times,
        "install_s",
        [sys.executable, "-m", "pip", "--python", str(py), "install", "--no-deps", "--no-index", "--quiet", str(wheel)],
        cwd=root,
        timeout=300,
    )
    site = Path(
        subprocess.check_output(
            [str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], text=True
        ).strip()
    )
    ours = dict.fromkeys(sysconfig.get_paths()[k] for k in ("purelib", "platlib"))
    (site / "zz_test_dependencies.pth").write_text("".join(f"{p}\n" for p in ours))
    _console_script(venv / "bin", "prefect")
    return Installed(root, venv, wheel, times)


def test_wheel_claims_no_generic_top_level_name(installed):
    names = {n.split("/")[0] for n in zipfile.ZipFile(installed.wheel).namelist()}
    assert names == {"arlm", "arlm_flows", installed.wheel.name.split("-py")[0] + ".dist-info"}, names
    shipped = set(zipfile.ZipFile(installed.wheel).namelist())
    for f in (REPO / "data_catalog").rglob("*"):
        if f.suffix in (".sql", ".json"):
            assert f"arlm/data_catalog/{f.relative_to(REPO / 'data_catalog')}" in shipped, f
    assert "arlm_flows/prefect.yaml" in shipped


def test_installed_packages_and_data_come_from_the_new_venv(installed):
    probe = installed.run(
        str(installed.bin / "python"),
        "-c",
        (
            "import json, importlib.util, arlm, arlm_flows, arlm.data_catalog\n"
            "from arlm.catalog.db import MIGRATIONS_DIR\n"
            "from arlm.data.sources import NAMED_CORPORA_DIR\n"
            "from arlm.infra.deploy import prefect_file\n"
            "print(json.dumps({'arlm': arlm.__file__, 'arlm_flows': arlm_flows.__file__,\n"
            "  'migrations': str(MIGRATIONS_DIR), 'corpora': str(NAMED_CORPORA_DIR), 'prefect': str(prefect_file()),\n"
            "  'flows': importlib.util.find_spec('flows') is not None,\n"
            "  'data_catalog': importlib.util.find_spec('data_catalog') is not None}))"
        ),
        timeout=120,
    )
    found = json.loads(probe.stdout.strip().splitlines()[-1])
    assert not found.pop("flows") and not found.pop("data_catalog"), "a generic top-level name is importable"
    for what, path in found.items():
        assert Path(path).resolve().is_relative_to(installed.venv.resolve()), (what, path)
        assert not Path(path).resolve().is_relative_to(REPO), (what, path)


def test_wheel_pipeline_trains_to_a_registered_model(installed, artifacts_dir):
    corpus = write_corpus(installed.root / "corpus")
    home = installed.root / "home-pipeline"
    t0 = time.monotonic()
    installed.arlm(
        home,
        "pipeline",
        "--corpus",
        str(corpus),
        "--model",
        "gpt/tiny",
        "--max-steps",
        "20",
        "--vocab-size",
        "300",
        "--workers",
        "1",
        "--name",
        "wheel",
        timeout=900,
    )
    installed.times["pipeline_s"] = round(time.monotonic() - t0, 2)
    models = json.loads(installed.arlm(home, "models", "list", "--json", timeout=120).stdout)
    assert [(m["name"], m["latest_version"]) for m in models] == [("wheel", 1)], models
    assert not list(installed.cwd.iterdir()), "the pipeline wrote into the working directory"
    _report_times(installed, artifacts_dir)


def _report_times(installed: Installed, artifacts_dir: Path) -> None:
    """Seconds of each step so far, printed and kept in test-artifacts/wheel-times.json."""
    (artifacts_dir / "wheel-times.json").write_text(json.dumps(installed.times, indent=2))
    print(f"wheel test times (s): {installed.times}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_wheel_deploy_applies_its_prefect_yaml_and_a_worker_runs_it(installed, artifacts_dir):
    home = installed.root / "home-deploy"
    corpus = write_corpus(installed.root / "corpus-deploy")
    installed.arlm(
        home,
        "infra",
        "up",
        "--services",
        "prefect",
        "worker",
        "--prefect-port",
        str(_free_port()),
        "--worker-query-seconds",
        "2",
        timeout=180,
    )
    try:
        env_lines = installed.arlm(home, "infra", "env", timeout=60).stdout
        api = next(line.split("=", 1)[1] for line in env_lines.splitlines() if "PREFECT_API_URL=" in line)
        t0 = time.monotonic()
        out = installed.arlm(
            home, "deploy", "--only", "ingest", "pipeline-nightly", "--no-schedule", timeout=300
        ).stdout
        installed.times["deploy_s"] = round(time.monotonic() - t0, 2)
        applied = Path(out.split(" from ", 1)[1].split(" to ", 1)[0])  # "deploying 2 deployment(s) from FILE to URL"
        assert applied.name == "prefect.yaml" and applied.parent.name == "arlm_flows", out
        assert applied.resolve().is_relative_to(installed.venv.resolve()), out
        t0 = time.monotonic()
        run = installed.run(
            str(installed.bin / "prefect"),
            "deployment",
            "run",
            "ingest/ingest",
            "--params",
            json.dumps({"params": {"corpus": str(corpus)}}),
            "--watch",
            "--watch-timeout",
            "300",
            timeout=360,
            PREFECT_API_URL=api,
        )
        installed.times["deployment_run_s"] = round(time.monotonic() - t0, 2)
        assert "Completed" in run.stdout, run.stdout[-3000:]
        rows = installed.arlm(
            home, "catalog", "sql", "--json", "SELECT count(*) AS n FROM corpus_versions", timeout=120
        ).stdout
        assert json.loads(rows.strip().splitlines()[-1]) == {"n": 1}, rows
        _report_times(installed, artifacts_dir)
    finally:
        installed.run(str(installed.bin / "arlm"), "--home", str(home), "infra", "down", timeout=120, check=False)
