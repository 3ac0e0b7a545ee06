"""What a command that runs Prefect flows (pipeline, train, compare) sets up once its arguments
passed their checks: a watcher that ends our process tree if we are killed, a temporary Prefect
server that dies with us, and quiet logs (``--debug`` keeps them)."""

from __future__ import annotations

import os


def _error_names() -> tuple[str, ...]:
    from arlm.errors import ArlmError

    found, todo = [], [ArlmError]
    while todo:
        cls = todo.pop()
        found.append(cls.__name__)
        todo.extend(cls.__subclasses__())
    return tuple(found)


def _reports_user_error(record) -> bool:
    """A Prefect engine record about an ``ArlmError`` (the flow or task failed on bad input):
    its traceback and state lines would bury the one-line error the CLI prints."""
    from arlm.errors import ArlmError

    if record.exc_info and isinstance(record.exc_info[1], ArlmError):
        return True
    msg = record.getMessage()
    return "exception" in msg and any(f"{n}:" in msg or f"{n}(" in msg for n in _error_names())


class _QuietFilter:
    """Keeps the stack's chatter out of normal output (``--debug`` shows it): Prefect's own INFO
    lines go, the stages' progress lines ("[train] ...") and every warning stay."""

    def filter(self, record) -> bool:
        import logging

        name = record.name
        if name.startswith("prefect") and _reports_user_error(record):
            return False  # the CLI prints it once, as one line
        if record.levelno >= logging.WARNING:
            return True
        if name.startswith(("prefect.flow_runs", "prefect.task_runs")):
            msg = record.getMessage()
            return msg.startswith("[")
        return not name.startswith(("prefect", "mlflow", "ray", "alembic", "httpx", "uvicorn"))


def quiet_stack_logs() -> None:
    """Quiet Prefect, MLflow and Ray in this process (called when a flow command starts)."""
    import logging
    import warnings

    for name in ("mlflow", "alembic", "ray", "ray.train", "ray.tune", "httpx"):
        logging.getLogger(name).setLevel(logging.WARNING)
    # MLflow re-enables this one inside its own code (simplefilter "once"), so a filter cannot
    # hide it: drop it where warnings are shown. The signature is given explicitly at logging.
    shown = warnings.showwarning

    def showwarning(message, category, filename, lineno, file=None, line=None):
        if "type hints to the `predict` method" not in str(message):
            shown(message, category, filename, lineno, file, line)

    warnings.showwarning = showwarning
    flt = _QuietFilter()
    for logger in (logging.getLogger(), logging.getLogger("prefect")):
        for h in logger.handlers:
            h.addFilter(flt)


def prepare_flow_command(debug: bool, home: str | None) -> None:
    """Before a flow runs: a watcher that ends our process tree if we are killed, a temporary
    Prefect server that dies with us, and quiet logs."""
    from arlm.home import get_home
    from arlm.infra import reaper

    reaper.start(get_home(home).root / "procs")
    if not os.environ.get("PREFECT_API_URL"):
        from arlm.infra import prefect_server

        prefect_server.install()
    if debug:
        os.environ.setdefault("ARLM_DEBUG", "1")
        return
    # MLflow sets its own level at import, here and in Ray's workers (which inherit the variable)
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
    import prefect.main  # noqa: F401 - configures Prefect's logging, which the filter then joins

    quiet_stack_logs()
