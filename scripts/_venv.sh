# Sourced by the other scripts: create or reuse .venv and keep it in step with pyproject.toml.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
PYTHON_BIN="${PYTHON:-python3}"

if ! "$PYTHON_BIN" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    echo "sns-subscriber needs Python 3.11 or newer as '$PYTHON_BIN' (set PYTHON=/path/to/python3.11)" >&2
    exit 2
fi
if [ ! -x "$VENV/bin/python" ]; then
    echo "creating virtual environment in $VENV" >&2
    "$PYTHON_BIN" -m venv "$VENV"
fi
# Reinstall only when the dependency declaration changed since the last install.
STAMP="$VENV/.sns-subscriber-installed"
WANT="$(cat "$ROOT/pyproject.toml" | sha256sum | cut -d' ' -f1)-${1:-dev}"
if [ ! -f "$STAMP" ] || [ "$(cat "$STAMP")" != "$WANT" ]; then
    echo "installing sns-subscriber[${1:-dev}] into $VENV" >&2
    # pip's own notices go to a log, shown only if the install fails.
    LOG="$VENV/install.log"
    if ! { "$VENV/bin/python" -m pip install --quiet --upgrade pip && \
           "$VENV/bin/python" -m pip install --quiet -e "$ROOT[${1:-dev}]"; } >"$LOG" 2>&1; then
        cat "$LOG" >&2
        echo "installing sns-subscriber[${1:-dev}] failed (log: $LOG)" >&2
        exit 1
    fi
    echo "$WANT" > "$STAMP"
fi
export PATH="$VENV/bin:$PATH"
