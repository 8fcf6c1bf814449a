#!/usr/bin/env bash
# Stop a Galera cluster started by scripts/start-galera.sh DIR: every node (last joined first), or only node I.
#
#   scripts/stop-galera.sh DIR [I]
#
# SIGTERM, then SIGKILL after 30 s. Idempotent: exits 0 when nothing is running. Data is kept.
set -euo pipefail

[ $# -ge 1 ] && [ -n "$1" ] || { echo "usage: $0 DIR [I]" >&2; exit 1; }
DIR=$1

alive() { kill -0 "$1" 2>/dev/null && ! grep -q '^[0-9]* ([^)]*) Z' "/proc/$1/stat" 2>/dev/null; }

stop_node() {   # the pid file, or the launched pid (a node that died or was killed before writing its pid file)
    local pidfile="$1/mysqld.pid" pid
    [ -f "$pidfile" ] || pidfile="$1/launched.pid"
    [ -f "$pidfile" ] || return 0
    pid=$(cat "$pidfile" 2>/dev/null || true)
    if [ -n "$pid" ] && alive "$pid"; then
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 1 300); do alive "$pid" || break; sleep 0.1; done
        if alive "$pid"; then
            echo "stop-galera: pid $pid still running after 30 s, sending SIGKILL" >&2
            kill -KILL "$pid" 2>/dev/null || true
            for _ in $(seq 1 50); do alive "$pid" || break; sleep 0.1; done
        fi
    fi
    rm -f "$1/mysqld.pid" "$1/launched.pid"
}

if [ -n "${2:-}" ]; then
    stop_node "$DIR/node$2"
    exit 0
fi
for node in $(ls -d "$DIR"/node* 2>/dev/null | sort -r); do
    stop_node "$node"
done
