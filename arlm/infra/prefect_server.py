"""The temporary Prefect server of a CLI run, made to die with the CLI.

With no ``PREFECT_API_URL``, Prefect starts a temporary API server (``python -m uvicorn``) as a
child of the first process that needs one, and stops it at exit, but not when that process is
killed: the server then lived on, holding its database. :func:`install` makes Prefect start the
same server through :func:`create_app` here, which watches its parent and exits when the parent is
gone (``SIGKILL`` included), and, when started from the main thread, also asks the kernel for a
parent-death signal.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading

PARENT_ENV = "ARLM_PREFECT_SERVER_PARENT"


def create_app():
    """The uvicorn factory: Prefect's app, plus a thread that stops the server with its parent."""
    from arlm.infra.procs import watch_parent

    parent = os.environ.get(PARENT_ENV)
    if parent and parent.isdigit():
        watch_parent(int(parent))
    from prefect.server.api.server import create_app as prefect_create_app

    return prefect_create_app()


def install() -> bool:
    """Patch Prefect's temporary-server launcher (idempotent). Returns False when Prefect's
    internals are not what this was written for (then Prefect's own launcher is used)."""
    try:
        from prefect.server.api import server as prefect_server
    except ImportError:
        return False
    cls = getattr(prefect_server, "SubprocessASGIServer", None)
    if cls is None or not hasattr(cls, "_run_uvicorn_command"):
        return False
    if getattr(cls, "_arlm_guarded", False):
        return True

    def _run_uvicorn_command(self) -> subprocess.Popen:
        import prefect
        from prefect.settings.context import get_current_settings

        from arlm.infra.procs import die_with_parent_preexec

        env = {**os.environ, "PREFECT_UI_ENABLED": "0", "PREFECT__SERVER_EPHEMERAL": "1",
               "PREFECT__SERVER_FINAL": "1", PARENT_ENV: str(os.getpid()),
               **get_current_settings().to_environment_variables(exclude_unset=True)}
        # arlm must be importable by the server (it is installed; the checkout also works)
        src = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH", "")) if p)
        main_thread = threading.current_thread() is threading.main_thread()
        return subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "--app-dir", str(prefect.__module_path__.parent),
             "--factory", "arlm.infra.prefect_server:create_app", "--host", "127.0.0.1",
             "--port", str(self.port), "--log-level", "error", "--lifespan", "on"],
            env=env,
            # PDEATHSIG is tied to the forking thread: only safe from the main thread
            preexec_fn=die_with_parent_preexec() if main_thread else None,
        )

    cls._run_uvicorn_command = _run_uvicorn_command
    cls._arlm_guarded = True
    return True
