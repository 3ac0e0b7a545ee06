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
)

# Offline-safe defaults for the stack; a user's explicit setting wins.
QUIET_ENV = {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "90",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "RAY_USAGE_STATS_ENABLED": "0",
    "TOKENIZERS_PARALLELISM": "false",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="arlm",
        description="Raw text to a registered, servable autoregressive language model.",
    )
    parser.add_argument("--home", default=None,
                        help="project home for runtime state (default: $ARLM_HOME or ./.arlm)")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMAND_MODULES:
        importlib.import_module(name).add_parsers(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    for key, value in QUIET_ENV.items():
        os.environ.setdefault(key, value)
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.home:
        os.environ["ARLM_HOME"] = os.path.abspath(args.home)
    from arlm.errors import ArlmError

    try:
        return int(args.func(args) or 0)
    except ArlmError as exc:
        if args.debug:
            raise
        print(f"arlm: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("arlm: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
