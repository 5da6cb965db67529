# Sourced by the other scripts: create or reuse .venv and keep it in step with pyproject.toml.
# Usage: source _venv.sh EXTRA (`service` to run the service, `dev` for every check).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
PYTHON_BIN="${PYTHON:-python3}"
EXTRA="${1:-dev}"

if ! "$PYTHON_BIN" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    echo "sns-subscriber needs Python 3.11 or newer as '$PYTHON_BIN' (set PYTHON=/path/to/python3.11)" >&2
    exit 2
fi
if [ ! -x "$VENV/bin/python" ]; then
    echo "creating virtual environment in $VENV" >&2
    "$PYTHON_BIN" -m venv "$VENV"
fi
# Reinstall only when the dependency declaration changed since the last install. The stamp
# holds one line per extra installed from this pyproject.toml; `dev` includes every other
# extra, so after ./scripts/test, ./scripts/serve starts at once, and the reverse installs only
# what `dev` adds (pip keeps what is there).
STAMP="$VENV/.sns-subscriber-installed"
HASH="$(sha256sum <"$ROOT/pyproject.toml" | cut -d' ' -f1)"
if ! grep -qxE "$HASH ($EXTRA|dev)" "$STAMP" 2>/dev/null; then
    echo "installing sns-subscriber[$EXTRA] into $VENV (pip's log: $VENV/install.log)" >&2
    LOG="$VENV/install.log"
    "$VENV/bin/python" -m pip install --quiet --upgrade pip >"$LOG" 2>&1 || { cat "$LOG" >&2; exit 1; }
    # pip's progress is shown (a first install downloads for a while), one line per package.
    set +e
    "$VENV/bin/python" -m pip install --progress-bar off -e "$ROOT[$EXTRA]" 2>&1 \
        | tee -a "$LOG" | grep --line-buffered -E '^(Collecting|Installing|Successfully|ERROR)' >&2
    PIP_STATUS="${PIPESTATUS[0]}"
    set -e
    if [ "$PIP_STATUS" -ne 0 ]; then
        tail -n 20 "$LOG" >&2
        echo "installing sns-subscriber[$EXTRA] failed (log: $LOG)" >&2
        exit 1
    fi
    # Keep the lines of other extras installed from the same pyproject.toml.
    { grep -x "$HASH .*" "$STAMP" 2>/dev/null || true; echo "$HASH $EXTRA"; } >"$STAMP.new"
    mv "$STAMP.new" "$STAMP"
fi
export PATH="$VENV/bin:$PATH"
