#!/usr/bin/env bash
# Scale-out (issue 16): several Chatbox instances behind HAProxy on one database.
#
#   scripts/scale-out.sh                 the suite (reliability/test_scale_out.py): three instances behind HAProxy in
#                                        round robin and in consistent hash on the conversation id on a private
#                                        MariaDB, and round robin on a three-node Galera cluster (~6 min on 2 cores)
#   scripts/scale-out.sh --quick         the CI subset: fewer races, the hash-mode variants of the cases that talk to
#                                        the instances directly left out (under 6 minutes)
#   scripts/scale-out.sh -k galera       extra arguments go to pytest
#   scripts/scale-out.sh soak [--quick] [bench options]
#                                        the bench soak (bench/, with its database audit) on MySQL against one
#                                        instance, then against three instances round robin behind HAProxy; prints
#                                        turns/s of both, then measures the re-attach lag across instances
#
# Needs: the Swift toolchain, mariadb-server, galera-4, rsync, haproxy and nginx (scripts/install-deps.sh --test
# installs them). Everything listens on 127.0.0.1 on free ports and is stopped at the end, also on failure or Ctrl-C.
# CHATBOX_BIN_DIR=… uses binaries already built (chatbox and fake-upstream; for soak: chatbox and chatbox-bench).
# SCALE_SOAK_BUILD=debug runs the soak on the debug build (default: release, like bench/run.sh).
# Logs: test-artifacts/reliability/logs/ (every instance, HAProxy, Galera start), junit in test-artifacts/scale-out/.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
started=$(date +%s)

SOAK=0
QUICK=0
ARGS=()
for arg in "$@"; do
  case "$arg" in
    soak) SOAK=1 ;;
    --quick) QUICK=1; ARGS+=("$arg") ;;
    *) ARGS+=("$arg") ;;
  esac
done

need=()
for command in haproxy nginx mariadbd rsync; do
  command -v "$command" >/dev/null || [[ -x /usr/sbin/$command ]] || need+=("$command")
done
[[ -f /usr/lib/galera/libgalera_smm.so ]] || need+=(galera-4)
if (( ${#need[@]} )); then
  echo "scale-out: missing ${need[*]}: installing the test dependencies"
  bash scripts/install-deps.sh --test
fi

VENV="$ROOT/.venv-reliability"
bash "$ROOT/scripts/python-venv.sh" "$VENV" "$ROOT/requirements-reliability.txt" reliability
OUT="$ROOT/test-artifacts/scale-out"
mkdir -p "$OUT"

# ---------------------------------------------------------------- the soak
if [[ $SOAK == 1 ]]; then
  BENCH_ARGS=()
  for arg in "${ARGS[@]}"; do BENCH_ARGS+=("$arg"); done
  ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
  if [[ -n "${CHATBOX_BIN_DIR:-}" ]]; then
    BIN="$CHATBOX_BIN_DIR"
  else
    CONFIG=(-c "${SCALE_SOAK_BUILD:-release}")
    echo "scale-out: swift build ${CONFIG[*]} (chatbox, chatbox-bench, fake-upstream)"
    swift build "${CONFIG[@]}" --product chatbox
    swift build "${CONFIG[@]}" --product chatbox-bench
    swift build "${CONFIG[@]}" --product fake-upstream
    BIN="$(swift build "${CONFIG[@]}" --show-bin-path)"
  fi
  WORK="$(mktemp -d /tmp/scale-soak.XXXXXX)"
  chmod 755 "$WORK"
  cleanup() {
    bash scripts/stop-mariadb.sh "$WORK/mdb" >/dev/null 2>&1 || true
    rm -rf "$WORK"
  }
  trap cleanup EXIT
  URL="$(bash scripts/start-mariadb.sh "$WORK/mdb" | tail -n 1)"
  BASE_URL="${URL%/*}"
  # `chatbox serve` stand-in: three instances + HAProxy on the port the bench gives (reliability/cluster.py serve)
  cat >"$WORK/chatbox-cluster" <<EOF
#!/usr/bin/env bash
export SCALE_CHATBOX_BIN_DIR="$BIN"
cd "$ROOT/reliability" && exec "$VENV/bin/python" cluster.py serve
EOF
  chmod +x "$WORK/chatbox-cluster"
  status=0
  for shape in 1 3; do
    server="$BIN/chatbox"
    [[ $shape == 3 ]] && server="$WORK/chatbox-cluster"
    echo "== soak: $shape instance(s) on MySQL"
    "$BIN/chatbox-bench" soak --server "$server" --repo "$ROOT" --work "$WORK/bench-$shape" \
      --soak-database mysql --mysql-url "$BASE_URL/soak_$shape" --out "$OUT/soak-$shape.md" \
      --command "scripts/scale-out.sh soak $*" "${BENCH_ARGS[@]}" 2>&1 | tee "$OUT/soak-$shape.log" || status=1
  done
  seconds=$(grep -o -- '--soak-seconds[= ][0-9]*' <<<"${BENCH_ARGS[*]:-}" | grep -o '[0-9]*$' || true)
  [[ -n "$seconds" ]] || { [[ $QUICK == 1 ]] && seconds=30 || seconds=180; }
  echo
  echo "== soak figures (bench soak, database audit by chatbox-bench; RSS/CPU columns of the 3-instance run are the"
  echo "   wrapper's, not the servers')"
  for shape in 1 3; do
    line=$(grep -o 'soak: [0-9]* turns, [0-9]* errors.*' "$OUT/soak-$shape.log" | tail -n 1 || true)
    turns=$(grep -o '^soak: [0-9]*' <<<"$line" | grep -o '[0-9]*' || echo 0)
    audit=$(grep -i 'audit' "$OUT/soak-$shape.md" | head -n 1 || true)
    printf '  %s instance(s): %s turns in %s s = %s turns/s\n' "$shape" "${turns:-0}" "$seconds" \
      "$(awk -v t="${turns:-0}" -v s="$seconds" 'BEGIN { printf "%.1f", t / s }')"
    echo "    $line"
    echo "    $audit"
  done
  echo
  echo "== re-attach lag across instances (three instances round robin, one MariaDB)"
  (cd "$ROOT/reliability" && CHATBOX_BIN_DIR="$BIN" "$VENV/bin/python" cluster.py lag 5 100 50) || status=1
  echo "== scale-out soak took $(( $(date +%s) - started )) s (tables: $OUT/soak-1.md, $OUT/soak-3.md)"
  exit $status
fi

# ---------------------------------------------------------------- the suite
if [[ -z "${CHATBOX_BIN_DIR:-}" ]]; then
  echo "scale-out: swift build (chatbox, fake-upstream)"
  swift build --product chatbox
  swift build --product fake-upstream
  CHATBOX_BIN_DIR="$(swift build --show-bin-path)"
fi
export CHATBOX_BIN_DIR
PYTEST=("$VENV/bin/python" -m pytest "$ROOT/reliability/test_scale_out.py" -p no:cacheprovider -o junit_family=xunit2
        --junitxml="$OUT/junit.xml" --durations=10)
PY_ARGS=()
for arg in "${ARGS[@]}"; do [[ $arg == --quick ]] || PY_ARGS+=("$arg"); done
if [[ $QUICK == 1 ]]; then
  export RELIABILITY_QUICK=1
  PYTEST+=(-m "not slow")
  echo "scale-out: quick subset"
fi
status=0
(cd "$ROOT/reliability" && "${PYTEST[@]}" "${PY_ARGS[@]}") || status=$?
echo "== scale-out suite took $(( $(date +%s) - started )) s; $([[ $status == 0 ]] && echo passed || echo FAILED)"
exit $status
