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
    "$VENV/bin/python" -m pip install --quiet --upgrade pip >/dev/null
    "$VENV/bin/python" -m pip install --quiet -e "$ROOT[${1:-dev}]"
    echo "$WANT" > "$STAMP"
fi
export PATH="$VENV/bin:$PATH"
