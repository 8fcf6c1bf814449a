#!/usr/bin/env bash
# Fault and security suites (reliability/, pytest): they drive the real `chatbox` and `fake-upstream` binaries,
# on SQLite and on a private MariaDB, and print what they did (faults injected, requests sent, concurrency held,
# rows audited, payloads tried). The load/soak run is bench/ (bench/run.sh); the browser XSS checks are
# e2e/test_security.py.
#
#   scripts/reliability.sh             every suite (about 10 minutes on 2 cores)
#   scripts/reliability.sh --quick     the CI subset: smaller sizes, no slow cases (a few minutes)
#   scripts/reliability.sh -k csrf     extra arguments go to pytest
#
# Needs: the Swift toolchain, mariadb-server (installed if missing), root for the full-disk case (it mounts a
# small tmpfs; skipped otherwise) and chattr for the read-only case. Creates .venv-reliability with the pinned
# requirements-reliability.txt. CHATBOX_BIN_DIR=… uses binaries already built; RELIABILITY_BACKENDS=sqlite limits
# the backends. Exits non-zero when a test fails (a known bug is a strict xfail and does not fail the run).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
started=$(date +%s)

QUICK=0
ARGS=()
for arg in "$@"; do
  case "$arg" in
    --quick) QUICK=1 ;;
    *) ARGS+=("$arg") ;;
  esac
done

if ! command -v mariadbd >/dev/null && [[ ! -x /usr/sbin/mariadbd ]]; then
  bash scripts/install-deps.sh --test
fi

VENV="$ROOT/.venv-reliability"
bash "$ROOT/scripts/python-venv.sh" "$VENV" "$ROOT/requirements-reliability.txt" reliability

if [[ -z "${CHATBOX_BIN_DIR:-}" ]]; then
  echo "reliability: swift build (chatbox, fake-upstream)"
  swift build --product chatbox
  swift build --product fake-upstream
  CHATBOX_BIN_DIR="$(swift build --show-bin-path)"
  export CHATBOX_BIN_DIR
fi

OUT="$ROOT/test-artifacts/reliability"
mkdir -p "$OUT"
rm -f "$OUT/figures.json"
# The scale-out suite (test_scale_out.py) has its own entry point, scripts/scale-out.sh (the test command runs both).
PYTEST=("$VENV/bin/python" -m pytest "$ROOT/reliability" -p no:cacheprovider -o junit_family=xunit2
        --junitxml="$OUT/junit.xml" --ignore="$ROOT/reliability/test_scale_out.py")
if [[ $QUICK == 1 ]]; then
  export RELIABILITY_QUICK=1
  PYTEST+=(-m "not slow")
  echo "reliability: quick subset"
fi

status=0
(cd "$ROOT/reliability" && "${PYTEST[@]}" "${ARGS[@]}") || status=$?

"$VENV/bin/python" - "$OUT/figures.json" "$(( $(date +%s) - started ))" <<'EOF' || true
import json, sys
path, seconds = sys.argv[1], sys.argv[2]
try:
    figures = json.load(open(path))
except OSError:
    sys.exit(0)
counts, highs = figures["counts"], figures["highs"]
def total(*words):
    return sum(v for k, v in counts.items() if any(w in k for w in words))
print("\n== reliability summary")
print(f"  faults injected      {counts.get('faults injected', 0)}")
print(f"  requests sent        {counts.get('requests sent', 0)}")
print(f"  concurrency held     {int(max([v for k, v in highs.items() if 'concurrent' in k] or [0]))} "
      f"(clients/streams at once)")
print(f"  rows audited         {counts.get('rows audited', 0)}")
print(f"  payloads tried       {counts.get('payloads tried', 0)}")
print(f"  access-control cases {counts.get('access-control cases', 0)}, CSRF refused {counts.get('CSRF requests refused', 0)}, "
      f"cross-user probes {counts.get('cross-user id probes', 0)}, login attempts {counts.get('login attempts', 0)}")
shown = {"faults injected", "requests sent", "rows audited", "payloads tried", "access-control cases",
         "CSRF requests refused", "cross-user id probes", "login attempts"}
for key in sorted(k for k in counts if k not in shown):
    print(f"  {key}: {counts[key]}")
for key in sorted(highs):
    print(f"  {key}: {highs[key]:g}")
for note in figures["notes"]:
    print(f"  - {note}")
print(f"  took {seconds} s; details: test-artifacts/reliability/ (figures.json, junit.xml, logs/, schemathesis/)")
EOF
exit $status
