#!/usr/bin/env bash
# Makes a virtualenv with pinned requirements, reinstalling only when the requirements file changes.
#   scripts/python-venv.sh VENV_DIR REQUIREMENTS_FILE LABEL
# Used by e2e/run.sh and scripts/reliability.sh. PYTHON picks the interpreter (default python3).
set -euo pipefail
VENV="$1"
REQ="$2"
LABEL="$3"
STAMP="$VENV/.$(basename "$REQ").sha256"
if [[ ! -x "$VENV/bin/python" ]]; then
  echo "$LABEL: creating $VENV"
  "${PYTHON:-python3}" -m venv "$VENV"
fi
want="$("$VENV/bin/python" -c 'import hashlib,sys; print(hashlib.sha256(open(sys.argv[1],"rb").read()).hexdigest())' "$REQ")"
if [[ ! -f "$STAMP" || "$(cat "$STAMP")" != "$want" ]]; then
  echo "$LABEL: installing $(basename "$REQ")"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$REQ"
  echo "$want" > "$STAMP"
fi
