"""Apply ``prefect.yaml`` to a Prefect server: ``arlm deploy``.

It runs ``prefect --no-prompt deploy --prefect-file FILE``, the same command an operator would
type, with the variables the YAML templates (``{{ $ARLM_... }}``) filled in from flags and from the
local stack (its API URL, its Ray head). Running Prefect's own CLI keeps prefect.yaml the single
description of the deployments, and works offline against a loopback server.

FILE is the prefect.yaml shipped inside the ``arlm_flows`` package (the repository's top-level
prefect.yaml; ``flows/prefect.yaml`` links to it), found with ``importlib.resources``, so a wheel
installed anywhere deploys with no checkout on disk. Its entrypoints are module paths
(``arlm_flows.pipeline.pipeline``), so a worker imports the installed package. The working
directory Prefect records for the runs is the arlm home; with ``--project-dir`` it is that folder,
whose own prefect.yaml is applied instead.
"""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

from arlm.errors import ArlmError, ConfigError
from arlm.home import Home
from arlm.infra.stack import QUIET_ENV, Stack, _bin

DEFAULT_CRON = "0 2 * * *"  # nightly, 02:00 in DEFAULT_TIMEZONE
DEFAULT_TIMEZONE = "UTC"
DEFAULT_POOL = "arlm-process"
FLOWS_PACKAGE = "arlm_flows"  # the repository's flows/ folder, installed under this name
PREFECT_FILE = "prefect.yaml"


@dataclass
class DeployOptions:
    names: list[str] | None = None  # deployment names of prefect.yaml; None: all of them
    cron: str = DEFAULT_CRON
    timezone: str = DEFAULT_TIMEZONE
    schedule_active: bool = True
    work_pool: str | None = None  # None: the stack's pool, else DEFAULT_POOL
    api_url: str | None = None  # None: the stack's, else $PREFECT_API_URL
    ray_address: str | None = None  # None: the stack's Ray head if it runs one, else a local Ray per run
    project_dir: Path | None = None  # a folder with its own prefect.yaml; None: the one shipped with arlm
    timeout_s: float = 600.0


def prefect_file(project_dir: Path | None = None) -> Path:
    """The prefect.yaml to apply: ``project_dir``'s when given, else the one shipped in the
    ``arlm_flows`` package (a wheel's site-packages, or this checkout through the editable install)."""
    if project_dir is not None:
        f = Path(project_dir).expanduser().absolute() / PREFECT_FILE
        if not f.is_file():
            raise ConfigError(f"--project-dir: no {PREFECT_FILE} in {f.parent}")
        return f
    shipped = files(FLOWS_PACKAGE).joinpath(PREFECT_FILE)
    if not isinstance(shipped, Path) or not shipped.is_file():
        raise ArlmError(
            f"{shipped}: the {PREFECT_FILE} shipped with the {FLOWS_PACKAGE} package is missing "
            "from this arlm install (reinstall arlm, or pass --project-dir)"
        )
    return shipped


def deployment_names(path: Path) -> list[str]:
    """The deployment names of the prefect.yaml at ``path``."""
    import yaml

    doc = yaml.safe_load(Path(path).read_text())
    return [d["name"] for d in doc.get("deployments", [])]


def validate_cron(cron: str) -> str:
    fields = cron.split()
    if len(fields) not in (5, 6) or not all(re.fullmatch(r"[\d*/,\-A-Za-z?LW#]+", f) for f in fields):
        raise ConfigError(f"--cron: {cron!r} is not a cron expression like '0 2 * * *'")
    return cron


def deploy(home: Home, opts: DeployOptions, log=print) -> list[str]:
    """Create or update the deployments; returns the names applied."""
    pfile = prefect_file(opts.project_dir)
    # Prefect records the directory `prefect deploy` runs in as each run's working directory.
    workdir = pfile.parent if opts.project_dir is not None else home.root
    workdir.mkdir(parents=True, exist_ok=True)
    known = deployment_names(pfile)
    names = opts.names or known
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ConfigError(f"--only: {unknown} not in {pfile} (has {known})")
    stack = Stack(home)
    cfg = stack.config()
    running = stack.running() if cfg else {}
    api_url = (
        opts.api_url
        or (cfg.prefect_api_url if cfg and "prefect" in running else None)
        or os.environ.get("PREFECT_API_URL")
    )
    if not api_url:
        raise ConfigError("--api-url: no Prefect server: start one with `arlm infra up` or set PREFECT_API_URL")
    ray_address = opts.ray_address
    if ray_address is None:
        ray_address = cfg.ray_address if cfg and "ray" in running else ""
    env = dict(os.environ)
    env.update(QUIET_ENV)
    env.update(
        {
            "PREFECT_API_URL": api_url,
            "ARLM_WORK_POOL": opts.work_pool or (cfg.work_pool if cfg else DEFAULT_POOL),
            "ARLM_PIPELINE_CRON": validate_cron(opts.cron),
            "ARLM_TIMEZONE": opts.timezone,
            "ARLM_SCHEDULE_ACTIVE": "true" if opts.schedule_active else "false",
            "ARLM_RAY_ADDRESS": ray_address,
        }
    )
    if cfg is not None:
        env.setdefault("PREFECT_HOME", str(home.root / "prefect"))
        auth = stack.client_auth()
        if auth:
            env["PREFECT_API_AUTH_STRING"] = auth
    argv = [_bin("prefect"), "--no-prompt", "deploy", "--prefect-file", str(pfile)]
    if opts.names:
        for n in names:
            argv += ["--name", n]
    else:
        argv += ["--all"]
    log(f"deploying {len(names)} deployment(s) from {pfile} to {api_url}")
    try:
        proc = subprocess.run(argv, cwd=workdir, env=env, capture_output=True, text=True, timeout=opts.timeout_s)
    except subprocess.TimeoutExpired as exc:
        raise ArlmError(f"`prefect deploy` did not finish within {opts.timeout_s:.0f} s") from exc
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-25:])
        raise ArlmError(f"`prefect deploy` failed (exit {proc.returncode}) for {pfile}:\n{tail}")
    for n in names:
        log(f"deployed {n}")
    return names
