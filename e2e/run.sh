#!/usr/bin/env bash
# Runs the browser suite: builds the server (unless CHATBOX_BIN_DIR points at built binaries), fetches the browser
# libraries, makes the .venv with the pinned requirements if needed, then pytest. Extra arguments go to pytest,
# e.g. e2e/run.sh -k sidebar. Exits non-zero when anything fails.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

VENV="$ROOT/.venv"
bash "$ROOT/scripts/python-venv.sh" "$VENV" "$ROOT/requirements-e2e.txt" e2e

if [[ ! -x "${CHATBOX_E2E_CHROMIUM:-/usr/bin/chromium}" ]]; then
  echo "e2e: ${CHATBOX_E2E_CHROMIUM:-/usr/bin/chromium} is missing (Debian: apt-get install chromium)" >&2
  exit 1
fi

bash "$ROOT/scripts/fetch-web-vendor.sh"

if [[ -z "${CHATBOX_BIN_DIR:-}" ]]; then
  echo "e2e: swift build"
  swift build
  CHATBOX_BIN_DIR="$(swift build --show-bin-path)"
  export CHATBOX_BIN_DIR
fi

mkdir -p "$ROOT/test-artifacts"
exec "$VENV/bin/python" -m pytest "$ROOT/e2e" -p no:cacheprovider -o junit_family=xunit2 \
  --junitxml="$ROOT/test-artifacts/e2e-junit.xml" "$@"
