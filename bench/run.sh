#!/usr/bin/env bash
# Chatbox benchmarks in one command: builds the server and the bench in release mode, runs the scenarios and
# prints one table of every figure against its target, with the harness's own ceiling beside it.
#
#   bench/run.sh                 every scenario at full size (~25 minutes on 2 cores, plus the first release build)
#   bench/run.sh --quick         the same, smaller (~5 minutes)
#   bench/run.sh ttft cpu        only these scenarios: startup ttft cpu concurrency slow history
#                                (history-sqlite, history-mysql) soak
#   bench/run.sh soak            the soak run (issue 7): --soak-users 200 --soak-seconds 180 …
#   bench/run.sh --slow-streams 5000 --seed-messages 200000 …   any size (see bench/README.md)
#
# The table is also written to bench/results/{latest,quick,soak}.md (or --out FILE); logs and databases go to
# ${TMPDIR:-/tmp}/chatbox-bench (or --work DIR). BENCH_SKIP_BUILD=1 skips the build.
set -euo pipefail
cd "$(dirname "$0")/.."

# Many streams need many sockets: take the hard limit (the children inherit it).
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

# The MySQL figures need a MariaDB server (scripts/start-mariadb.sh starts a private one).
if ! command -v mariadbd >/dev/null && [ ! -x /usr/sbin/mariadbd ]; then
    echo "bench: installing mariadb-server for the MySQL figures" >&2
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    { $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq mariadb-server; } >/dev/null 2>&1 ||
        echo "bench: could not install mariadb-server; the MySQL figures will be skipped" >&2
fi
scripts/install-deps.sh   # libmariadb-dev and pkg-config, needed to build

if [ "${BENCH_SKIP_BUILD:-0}" != 1 ]; then
    echo "bench: building in release mode (the first build of all dependencies takes a while)" >&2
    swift build -c release --product chatbox
    swift build -c release --product chatbox-bench
fi
BIN=$(swift build -c release --show-bin-path)

out=bench/results/latest.md
for arg in "$@"; do
    case "$arg" in
        --quick) out=bench/results/quick.md ;;
        soak) out=bench/results/soak.md ;;
        --out|--out=*) out="" ;;
    esac
done
extra=()
[ -n "$out" ] && extra=(--out "$out")

exec "$BIN/chatbox-bench" run "$@" --server "$BIN/chatbox" --repo "$PWD" --command "bench/run.sh $*" "${extra[@]}"
