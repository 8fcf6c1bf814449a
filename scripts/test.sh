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
CRASH_DIR="$(mktemp -d /tmp/chatbox-crashes.XXXXXX)"
SWIFT_LOG="$CRASH_DIR/swift-test.log"
cleanup() { bash scripts/stop-mariadb.sh "$MARIADB_DIR" >/dev/null 2>&1 || true; rm -rf "$MARIADB_DIR"; }
trap cleanup EXIT
CHATBOX_TEST_MYSQL_URL="$(bash scripts/start-mariadb.sh "$MARIADB_DIR" | tail -n 1)"
export CHATBOX_TEST_MYSQL_URL CHATBOX_TEST_MARIADB_DIR="$MARIADB_DIR"
echo "MariaDB at ${CHATBOX_TEST_MYSQL_URL/chatbox-test/***}"

# A Swift process that crashes writes a short backtrace (the crashed thread, fast symbolication, only the
# images it mentions) into $CRASH_DIR, printed at the end; its "Fatal error" line goes to the console. The
# default (every thread of a test process with ~400 threads, fully symbolicated) once took 266 s on a busy CI
# machine, the whole process stopped meanwhile, and pushed the cause out of the log.
export SWIFT_BACKTRACE="enable=yes,symbolicate=fast,threads=crashed,images=mentioned,registers=none,output-to=$CRASH_DIR"

# Each stage has a time limit (about four times its usual length), so that a hang fails CI with a name instead
# of running it out of time. `timeout` signals the stage's whole process group.
stage() {  # stage LABEL SECONDS COMMAND...
  local label="$1" limit="$2" began rc=0
  shift 2
  echo "== $label"
  began=$(date +%s)
  timeout --kill-after=30 "$limit" "$@" || rc=$?
  if [[ $rc == 124 || $rc == 137 ]]; then echo "== $label: STOPPED after its limit of $limit s"; fi
  echo "== $label took $(( $(date +%s) - began )) s (exit $rc)"
  return $rc
}

# The Swift tests that started and never ended (a hang, or a crash under way), by name.
unfinished_swift_tests() {
  grep -o '◇ Test .* started\.$' "$SWIFT_LOG" | sed -e 's/^◇ Test //' -e 's/ started\.$//' | grep -v '^case passing' |
    sort -u | while IFS= read -r name; do
      grep -F "Test $name " "$SWIFT_LOG" | grep -qE '(passed|failed) after|skipped' || echo "   $name"
    done
}

status=0
BIN_DIR="$(swift build --show-bin-path)"
stage "swift test" 1200 bash -c 'set -o pipefail; stdbuf -oL -eL swift test --skip-build 2>&1 | tee "$0"' "$SWIFT_LOG" || {
  status=1
  echo "== Swift tests that did not finish:"
  unfinished_swift_tests
}

CHATBOX_BIN_DIR="$BIN_DIR" stage "browser suite" 900 bash e2e/run.sh || status=1
# reliability and security: the quick subset (scripts/reliability.sh runs them all)
CHATBOX_BIN_DIR="$BIN_DIR" stage "reliability and security" 900 bash scripts/reliability.sh --quick || status=1
CHATBOX_BIN_DIR="$BIN_DIR" stage "several instances" 600 bash scripts/scale-out.sh --quick || status=1

for crash in "$CRASH_DIR"/*; do
  [[ -f "$crash" && "$crash" != "$SWIFT_LOG" ]] || continue
  status=1
  echo "== a Swift process crashed: $crash"
  head -n 120 "$crash"
done
rm -rf "$CRASH_DIR"

echo "== all tests took $(( $(date +%s) - started )) s; $([[ $status == 0 ]] && echo passed || echo FAILED)"
exit $status
