#!/usr/bin/env bash
# arlm infra status: see infra/README.md. Extra flags are passed through (`status.sh --help`).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
python="${ARLM_PYTHON:-$repo/.venv/bin/python}"
[ -x "$python" ] || python="$(command -v python3)"
exec "$python" -m arlm.infra status "$@"
