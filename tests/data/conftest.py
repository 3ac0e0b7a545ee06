"""Fixtures of the data tests: the data/catalog CLI commands run in-process."""

from __future__ import annotations

import argparse
import contextlib
import io

import pytest


def _run_cli(home, argv: list[str]) -> tuple[int, str, str]:
    """Parse ``argv`` with the data commands and run the handler as ``arlm.cli.main`` does:
    an ``ArlmError`` becomes one line on stderr and exit code 2."""
    from arlm.cli import data_cmds
    from arlm.errors import ArlmError

    parser = argparse.ArgumentParser(prog="arlm")
    parser.add_argument("--home", default=None)
    data_cmds.add_parsers(parser.add_subparsers(dest="command", required=True))
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            args = parser.parse_args(["--home", str(home.root), *argv])
            code = int(args.func(args) or 0)
        except ArlmError as exc:
            print(f"arlm: error: {exc}", file=err)
            code = 2
        except SystemExit as exc:  # argparse usage errors
            code = int(exc.code or 0)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture()
def run_cli():
    return _run_cli
