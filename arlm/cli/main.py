"""Entry point of the ``arlm`` command.

Each command group lives in its own module exposing ``add_parsers(subparsers)``; handlers take
the parsed args and return an exit code. User errors (``ArlmError``) print one line on stderr and
exit 2; ``--debug`` shows the traceback.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

COMMAND_MODULES = (
    "arlm.cli.pipeline_cmds",
    "arlm.cli.data_cmds",
    "arlm.cli.tokenizer_cmds",
    "arlm.cli.train_cmds",
    "arlm.cli.model_cmds",
    "arlm.cli.infra_cmds",
    "arlm.cli.hf_cmds",
)

# Offline-safe defaults for the stack; a user's explicit setting wins.
QUIET_ENV = {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "90",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "RAY_USAGE_STATS_ENABLED": "0",
    "TOKENIZERS_PARALLELISM": "false",
    # Leases of concurrency slots in files under PREFECT_HOME, not in the memory of a temporary
    # server that dies with its process (arlm.infra.slots)
    "PREFECT_SERVER_CONCURRENCY_LEASE_STORAGE": "prefect.server.concurrency.lease_storage.filesystem",
}

# After the first Ctrl-C or SIGTERM, clean-up gets this long before the process exits anyway.
EXIT_GRACE_SECONDS = 15.0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="arlm",
        description="Raw text to a registered, servable autoregressive language model.",
    )
    parser.add_argument("--home", default=None, help="project home for runtime state (default: $ARLM_HOME or ./.arlm)")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMAND_MODULES:
        importlib.import_module(name).add_parsers(sub)
    return parser


class _Terminated(KeyboardInterrupt):
    """SIGTERM, handled like Ctrl-C."""


def _install_signal_handlers() -> None:
    """Ctrl-C and SIGTERM stop the command: the first raises KeyboardInterrupt in the main thread
    and arms a watchdog that ends the process after EXIT_GRACE_SECONDS whatever clean-up still
    runs (threads, atexit hooks); a second one ends it at once. Children die with us (the
    temporary Prefect server watches its parent, Ray's processes have a parent-death signal)."""
    import signal
    import threading

    state = {"count": 0}

    def handler(signum, frame):
        state["count"] += 1
        code = 130 if signum == signal.SIGINT else 143
        if state["count"] > 1:
            os._exit(code)
        timer = threading.Timer(EXIT_GRACE_SECONDS, os._exit, args=(code,))
        timer.daemon = True
        timer.start()
        raise (KeyboardInterrupt if signum == signal.SIGINT else _Terminated)()

    signal.signal(signal.SIGINT, handler)
    try:
        signal.signal(signal.SIGTERM, handler)
    except (OSError, ValueError):  # pragma: no cover - not the main thread
        pass


def _exit_quietly_on_broken_pipe() -> int:
    """stdout closed by the reader (``arlm catalog ls | head``): no traceback, exit 141 like a
    shell tool killed by SIGPIPE (Python docs, "Note on SIGPIPE")."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
    return 141


def main(argv: list[str] | None = None) -> int:
    try:  # progress lines reach a pipe or a log file as they are printed (`arlm pipeline | tee log`)
        sys.stdout.reconfigure(line_buffering=True)
    except (AttributeError, ValueError):  # replaced by a caller (tests, embedding)
        pass
    for key, value in QUIET_ENV.items():
        os.environ.setdefault(key, value)
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.home:
        os.environ["ARLM_HOME"] = os.path.abspath(args.home)
    from arlm.errors import ArlmError

    _install_signal_handlers()
    try:
        code = int(args.func(args) or 0)
        sys.stdout.flush()
        return code
    except ArlmError as exc:
        if args.debug:
            raise
        print(f"arlm: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        return _exit_quietly_on_broken_pipe()
    except KeyboardInterrupt as exc:
        what = "terminated" if isinstance(exc, _Terminated) else "interrupted"
        print(f"arlm: {what}", file=sys.stderr, flush=True)
        return 143 if isinstance(exc, _Terminated) else 130
    finally:
        if "arlm.infra.prefect_server" in sys.modules:  # its server's stop is expected from now on
            sys.modules["arlm.infra.prefect_server"].expect_exit()


def run() -> None:
    """Console-script entry point: ``main`` plus a quiet end when stdout is a closed pipe."""
    try:
        code = main()
        sys.stdout.flush()
    except BrokenPipeError:
        code = _exit_quietly_on_broken_pipe()
    sys.exit(code)


if __name__ == "__main__":  # pragma: no cover
    run()
