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


_state: dict = {"exiting": False, "stopping": set()}


def expect_exit() -> None:
    """The command is ending: the server's stop from now on is Prefect's own clean-up."""
    _state["exiting"] = True


def _stop_us_if_it_dies(proc: subprocess.Popen) -> None:
    """The server died under a running command (killed, out of memory): every call to it would
    now be retried for minutes. Stop the command with one line instead; rerunning it resumes."""
    import signal

    code = proc.wait()
    if _state["exiting"] or proc.pid in _state["stopping"]:
        return
    print(
        f"arlm: error: the temporary Prefect server (pid {proc.pid}) died (exit status {code}); "
        "stopping. Run the same command again: it resumes from the last checkpoint.",
        file=sys.stderr,
        flush=True,
    )
    os.kill(os.getpid(), signal.SIGTERM)


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

        env = {
            **os.environ,
            "PREFECT_UI_ENABLED": "0",
            "PREFECT__SERVER_EPHEMERAL": "1",
            "PREFECT__SERVER_FINAL": "1",
            PARENT_ENV: str(os.getpid()),
            **get_current_settings().to_environment_variables(exclude_unset=True),
        }
        # arlm must be importable by the server (it is installed; the checkout also works)
        src = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH", "")) if p)
        main_thread = threading.current_thread() is threading.main_thread()
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "--app-dir",
                str(prefect.__module_path__.parent),
                "--factory",
                "arlm.infra.prefect_server:create_app",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--log-level",
                "error",
                "--lifespan",
                "on",
            ],
            env=env,
            # PDEATHSIG is tied to the forking thread: only safe from the main thread
            preexec_fn=die_with_parent_preexec() if main_thread else None,
        )
        threading.Thread(
            target=_stop_us_if_it_dies, args=(proc,), daemon=True, name="arlm-prefect-server-watch"
        ).start()
        return proc

    original_stop = cls.stop

    def stop(self) -> None:
        # Prefect's own stop (at exit, or when a client is done with it): not a death to report
        proc = getattr(self, "server_process", None)
        if proc is not None:
            _state["stopping"].add(proc.pid)
        original_stop(self)

    cls._run_uvicorn_command = _run_uvicorn_command
    cls.stop = stop
    cls._arlm_guarded = True
    return True
