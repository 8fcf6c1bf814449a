#!/usr/bin/env bash
# Stop a MariaDB started by scripts/start-mariadb.sh DIR (its pid file), and wait until it is gone.
#
#   scripts/stop-mariadb.sh DIR
#
# Idempotent: exits 0 when nothing is running. The datadir is kept (start again with start-mariadb.sh DIR).
set -euo pipefail

[ $# -ge 1 ] && [ -n "$1" ] || { echo "usage: $0 DIR" >&2; exit 1; }
DIR=$1
PIDFILE=$DIR/mysqld.pid

# alive = exists and is not a zombie (an orphaned server may linger unreaped in a container)
alive() { kill -0 "$1" 2>/dev/null && ! grep -q '^[0-9]* ([^)]*) Z' "/proc/$1/stat" 2>/dev/null; }

[ -f "$PIDFILE" ] || exit 0
pid=$(cat "$PIDFILE" 2>/dev/null || true)
if [ -z "$pid" ] || ! alive "$pid"; then
    rm -f "$PIDFILE"
    exit 0
fi

kill -TERM "$pid" 2>/dev/null || true
for _ in $(seq 1 300); do                  # up to 30 s for a clean shutdown
    alive "$pid" || { rm -f "$PIDFILE"; exit 0; }
    sleep 0.1
done
echo "stop-mariadb: pid $pid still running after 30 s, sending SIGKILL" >&2
kill -KILL "$pid" 2>/dev/null || true
for _ in $(seq 1 50); do
    alive "$pid" || break
    sleep 0.1
done
rm -f "$PIDFILE"
