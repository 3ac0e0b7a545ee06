"""Apply ``prefect.yaml`` to a Prefect server: ``arlm deploy``.

It runs ``prefect --no-prompt deploy`` from the repository root, the same command an operator
would type, with the variables the YAML templates (``{{ $ARLM_... }}``) filled in from flags and
from the local stack (its API URL, its Ray head). Running Prefect's own CLI keeps prefect.yaml the
single description of the deployments, and works offline against a loopback server.
"""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from arlm.errors import ArlmError, ConfigError
from arlm.home import Home
from arlm.infra.stack import QUIET_ENV, Stack, _bin

DEFAULT_CRON = "0 2 * * *"  # nightly, 02:00 in DEFAULT_TIMEZONE
DEFAULT_TIMEZONE = "UTC"
DEFAULT_POOL = "arlm-process"


@dataclass
class DeployOptions:
    names: list[str] | None = None  # deployment names of prefect.yaml; None: all of them
    cron: str = DEFAULT_CRON
    timezone: str = DEFAULT_TIMEZONE
    schedule_active: bool = True
    work_pool: str | None = None  # None: the stack's pool, else DEFAULT_POOL
    api_url: str | None = None  # None: the stack's, else $PREFECT_API_URL
    ray_address: str | None = None  # None: the stack's Ray head if it runs one, else a local Ray per run
    project_dir: Path | None = None  # where prefect.yaml is; None: this checkout's root
    timeout_s: float = 600.0


def project_root(explicit: Path | None = None) -> Path:
    """The folder holding prefect.yaml: explicit, this checkout, or the working directory."""
    candidates = [explicit] if explicit else [Path(__file__).resolve().parents[2], Path.cwd()]
    for c in candidates:
        if c is not None and (Path(c) / "prefect.yaml").is_file():
            return Path(c).resolve()
    where = explicit or " or ".join(str(c) for c in candidates)
    raise ConfigError(f"--project-dir: no prefect.yaml in {where}")


def deployment_names(root: Path) -> list[str]:
    import yaml

    doc = yaml.safe_load((root / "prefect.yaml").read_text())
    return [d["name"] for d in doc.get("deployments", [])]


def validate_cron(cron: str) -> str:
    fields = cron.split()
    if len(fields) not in (5, 6) or not all(re.fullmatch(r"[\d*/,\-A-Za-z?LW#]+", f) for f in fields):
        raise ConfigError(f"--cron: {cron!r} is not a cron expression like '0 2 * * *'")
    return cron


def deploy(home: Home, opts: DeployOptions, log=print) -> list[str]:
    """Create or update the deployments; returns the names applied."""
    root = project_root(opts.project_dir)
    known = deployment_names(root)
    names = opts.names or known
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ConfigError(f"--only: {unknown} not in {root / 'prefect.yaml'} (has {known})")
    stack = Stack(home)
    cfg = stack.config()
    running = stack.running() if cfg else {}
    api_url = opts.api_url or (cfg.prefect_api_url if cfg and "prefect" in running else None) \
        or os.environ.get("PREFECT_API_URL")
    if not api_url:
        raise ConfigError("--api-url: no Prefect server: start one with `arlm infra up` or set PREFECT_API_URL")
    ray_address = opts.ray_address
    if ray_address is None:
        ray_address = cfg.ray_address if cfg and "ray" in running else ""
    env = dict(os.environ)
    env.update(QUIET_ENV)
    env.update({
        "PREFECT_API_URL": api_url,
        "ARLM_WORK_POOL": opts.work_pool or (cfg.work_pool if cfg else DEFAULT_POOL),
        "ARLM_PIPELINE_CRON": validate_cron(opts.cron),
        "ARLM_TIMEZONE": opts.timezone,
        "ARLM_SCHEDULE_ACTIVE": "true" if opts.schedule_active else "false",
        "ARLM_RAY_ADDRESS": ray_address,
    })
    if cfg is not None:
        env.setdefault("PREFECT_HOME", str(home.root / "prefect"))
        auth = stack.client_auth()
        if auth:
            env["PREFECT_API_AUTH_STRING"] = auth
    argv = [_bin("prefect"), "--no-prompt", "deploy"]
    if opts.names:
        for n in names:
            argv += ["--name", n]
    else:
        argv += ["--all"]
    log(f"deploying {len(names)} deployment(s) from {root / 'prefect.yaml'} to {api_url}")
    try:
        proc = subprocess.run(argv, cwd=root, env=env, capture_output=True, text=True, timeout=opts.timeout_s)
    except subprocess.TimeoutExpired as exc:
        raise ArlmError(f"`prefect deploy` did not finish within {opts.timeout_s:.0f} s") from exc
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-25:])
        raise ArlmError(f"`prefect deploy` failed (exit {proc.returncode}) for {root / 'prefect.yaml'}:\n{tail}")
    for n in names:
        log(f"deployed {n}")
    return names
