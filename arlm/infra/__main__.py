"""``python -m arlm.infra up|down|status|env|deploy``: the infra commands without the rest of the CLI.

``infra/local/*.sh`` call this, so the scripts work even where the ``arlm`` entry point is not on PATH.
"""

from __future__ import annotations

import argparse
import os
import sys


def main(argv: list[str] | None = None) -> int:
    from arlm.cli import infra_cmds
    from arlm.errors import ArlmError
    from arlm.infra.stack import QUIET_ENV

    for k, v in QUIET_ENV.items():
        os.environ.setdefault(k, v)
    parser = argparse.ArgumentParser(prog="python -m arlm.infra")
    parser.add_argument("--home", default=None, help="project home (default: $ARLM_HOME or ./.arlm)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    infra_cmds.add_parsers(sub)
    raw = list(sys.argv[1:] if argv is None else argv)
    # `python -m arlm.infra up ...` reads better than `... infra up`: accept both.
    if raw and raw[0] in ("up", "down", "status", "env"):
        raw = ["infra", *raw]
    args = parser.parse_args(raw)
    try:
        return int(args.func(args) or 0)
    except ArlmError as exc:
        print(f"arlm: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
