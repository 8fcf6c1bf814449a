#!/usr/bin/env bash
# Runs every test: the Swift suites (HTTP API, store, streaming, MariaDB driver) against SQLite and a private
# MariaDB server on 127.0.0.1, the browser suite in headless Chromium, and the quick fault and security suites.
# Installs what it needs first.
# Exits non-zero when anything fails.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
started=$(date +%s)
bash scripts/install-deps.sh --test
bash scripts/fetch-web-vendor.sh

echo "== format (swift format lint, .swift-format)"
swift format lint --strict --parallel -r Sources Tests bench/Sources

echo "== build"
swift build --build-tests

echo "== MariaDB"
MARIADB_DIR="$(mktemp -d /tmp/chatbox-mariadb.XXXXXX)"
cleanup() { bash scripts/stop-mariadb.sh "$MARIADB_DIR" >/dev/null 2>&1 || true; rm -rf "$MARIADB_DIR"; }
trap cleanup EXIT
CHATBOX_TEST_MYSQL_URL="$(bash scripts/start-mariadb.sh "$MARIADB_DIR" | tail -n 1)"
export CHATBOX_TEST_MYSQL_URL CHATBOX_TEST_MARIADB_DIR="$MARIADB_DIR"
echo "MariaDB at ${CHATBOX_TEST_MYSQL_URL/chatbox-test/***}"

status=0
echo "== swift test"
swift test --skip-build || status=1

echo "== browser suite"
CHATBOX_BIN_DIR="$(swift build --show-bin-path)" bash e2e/run.sh || status=1

echo "== reliability and security (quick subset; scripts/reliability.sh runs them all)"
CHATBOX_BIN_DIR="$(swift build --show-bin-path)" bash scripts/reliability.sh --quick || status=1
CHATBOX_BIN_DIR="$(swift build --show-bin-path)" bash scripts/scale-out.sh --quick || status=1   # several instances

echo "== all tests took $(( $(date +%s) - started )) s; $([[ $status == 0 ]] && echo passed || echo FAILED)"
exit $status
