#!/usr/bin/env bash
# Creates ./.venv and installs the project with its pinned dependencies.
# Re-running is cheap: the install is skipped while pyproject.toml is unchanged.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
extras="${1:-test}"
venv="$root/.venv"
python="${PYTHON:-python3}"

if [ ! -x "$venv/bin/python" ]; then
  "$python" -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --upgrade pip
fi

stamp="$venv/.installed-$extras"
want="$(sha256sum "$root/pyproject.toml" | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "bootstrap: installing the project and its pinned dependencies into .venv" >&2
  log="$(mktemp)"
  if ! "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -e "$root[$extras]" >"$log" 2>&1; then
    cat "$log" >&2
    exit 1
  fi
  rm -f "$log"
  echo "$want" > "$stamp"
fi
