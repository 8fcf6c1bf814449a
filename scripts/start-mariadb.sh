#!/usr/bin/env bash
# Start a private, loopback-only MariaDB for tests and benchmarks.
#
#   scripts/start-mariadb.sh DIR [PORT]
#
# DIR holds everything: data/ (datadir), mysqld.sock, mysqld.pid, port, error.log.
# PORT defaults to the port recorded in DIR/port by an earlier run, else a free port is picked.
# Idempotent: an existing datadir is reused, and a server already running from DIR is left as is.
# On success the last line on stdout is the URL, e.g. mysql://root:chatbox-test@127.0.0.1:PORT/chatbox_test
# (the database itself is created by the app / MariaDBDatabase.createDatabaseIfNeeded()).
# Needs mariadb-server (Debian: apt-get install mariadb-server). Stop it with scripts/stop-mariadb.sh DIR.
set -euo pipefail

PASSWORD=chatbox-test
DATABASE=chatbox_test

die() { echo "start-mariadb: $*" >&2; exit 1; }

[ $# -ge 1 ] && [ -n "$1" ] || die "usage: $0 DIR [PORT]"
mkdir -p "$1"
DIR=$(cd "$1" && pwd)
DATA=$DIR/data
SOCK=$DIR/mysqld.sock
PIDFILE=$DIR/mysqld.pid
LOG=$DIR/error.log
# A private tmpdir: a starting mariadbd deletes every "#sql…" file it finds in its tmpdir, and with the shared /tmp
# that was another server's temporary table (a concurrent mariadb-install-db then failed, e.g. "Error on delete of
# '/tmp/#sql-temptable-…'" or "Unknown table 'mysql.tmp_user_sys'").
TMP=$DIR/tmp
[ ${#SOCK} -lt 100 ] || die "socket path too long for a unix socket: $SOCK (use a shorter DIR)"

MARIADBD=$(command -v mariadbd || true)
[ -n "$MARIADBD" ] || MARIADBD=/usr/sbin/mariadbd
[ -x "$MARIADBD" ] || die "mariadbd not found (apt-get install mariadb-server)"
command -v mariadb-install-db >/dev/null || die "mariadb-install-db not found (apt-get install mariadb-server)"
command -v mariadb-admin >/dev/null || die "mariadb-admin not found (apt-get install mariadb-client)"

USER_ARGS=()
if [ "$(id -u)" = 0 ]; then USER_ARGS=(--user=root); fi

# Mroonga (Debian: mariadb-plugin-mroonga), when installed: the full-text index the app uses for search on MariaDB.
PLUGIN_ARGS=()
PLUGIN_DIR=$("$MARIADBD" --no-defaults --verbose --help 2>/dev/null | awk '$1 == "plugin-dir" { print $2 }' || true)
[ -n "$PLUGIN_DIR" ] || PLUGIN_DIR=/usr/lib/mysql/plugin
if [ -f "$PLUGIN_DIR/ha_mroonga.so" ] && [ "${CHATBOX_TEST_NO_MROONGA:-}" != 1 ]; then
    PLUGIN_ARGS=(--plugin-load-add=ha_mroonga)
fi

PORT=${2:-}
if [ -z "$PORT" ] && [ -f "$DIR/port" ]; then PORT=$(cat "$DIR/port"); fi
AUTO_PORT=0
[ -n "$PORT" ] || AUTO_PORT=1

running_pid() {   # prints the pid if the server from DIR is alive
    [ -f "$PIDFILE" ] || return 1
    local pid; pid=$(cat "$PIDFILE" 2>/dev/null || true)
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && echo "$pid"
}

ping_server() {   # as root over the socket, with the test password (or none, right after install)
    mariadb-admin --no-defaults -S "$SOCK" -uroot -p"$PASSWORD" ping >/dev/null 2>&1 ||
        mariadb-admin --no-defaults -S "$SOCK" -uroot ping >/dev/null 2>&1
}

free_port() {
    if command -v python3 >/dev/null; then
        python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
        return
    fi
    local p
    for _ in $(seq 1 50); do
        p=$((20000 + RANDOM % 40000))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return; fi
    done
    die "no free port found"
}

print_url() { echo "mysql://root:$PASSWORD@127.0.0.1:$PORT/$DATABASE"; }

if pid=$(running_pid); then
    if ping_server; then
        RUNNING_PORT=$(cat "$DIR/port" 2>/dev/null || true)
        [ -n "$RUNNING_PORT" ] || die "server running from $DIR (pid $pid) but its port is unknown"
        [ -z "${2:-}" ] || [ "$2" = "$RUNNING_PORT" ] ||
            die "server from $DIR already runs on port $RUNNING_PORT, not $2 (stop it first)"
        PORT=$RUNNING_PORT
        print_url
        exit 0
    fi
    die "a server from $DIR (pid $pid) is running but does not answer; run scripts/stop-mariadb.sh $DIR"
fi

mkdir -p "$TMP"
if [ ! -d "$DATA/mysql" ]; then
    rm -rf "$DATA"
    mkdir -p "$DATA"
    mariadb-install-db --no-defaults "${USER_ARGS[@]}" --datadir="$DATA" --tmpdir="$TMP" \
        --auth-root-authentication-method=normal --skip-test-db >"$DIR/install.log" 2>&1 ||
        { tail -n 20 "$DIR/install.log" >&2; die "mariadb-install-db failed (log: $DIR/install.log)"; }
fi

start_server() {
    rm -f "$PIDFILE" "$SOCK"
    # setsid + redirected fds: the server must not hold the caller's stdout/stderr open.
    setsid "$MARIADBD" --no-defaults "${USER_ARGS[@]}" --datadir="$DATA" --tmpdir="$TMP" --socket="$SOCK" --port="$PORT" \
        --bind-address=127.0.0.1 --skip-name-resolve --pid-file="$PIDFILE" --log-error="$LOG" \
        --character-set-server=utf8mb4 --collation-server=utf8mb4_unicode_ci \
        --skip-log-bin --innodb-buffer-pool-size=64M --max-connections=1000 "${PLUGIN_ARGS[@]}" \
        </dev/null >>"$DIR/mariadbd.out" 2>&1 &
    local spid=$!
    for _ in $(seq 1 300); do              # up to 30 s
        if ping_server; then return 0; fi
        kill -0 "$spid" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}

ok=0
for attempt in 1 2 3; do
    [ -n "$PORT" ] || PORT=$(free_port)
    if start_server; then ok=1; break; fi
    if [ "$AUTO_PORT" = 1 ] && grep -qi "address already in use" "$LOG" 2>/dev/null; then
        PORT=""; continue                  # lost the race for the picked port: pick another
    fi
    break
done
if [ "$ok" != 1 ]; then
    tail -n 20 "$LOG" >&2 2>/dev/null || true
    die "mariadbd did not start (log: $LOG)"
fi
echo "$PORT" >"$DIR/port"

# Root password + TCP login from 127.0.0.1 (skip-name-resolve: TCP clients are 'root'@'127.0.0.1').
SQL="ALTER USER 'root'@'localhost' IDENTIFIED BY '$PASSWORD';
CREATE USER IF NOT EXISTS 'root'@'127.0.0.1' IDENTIFIED BY '$PASSWORD';
ALTER USER 'root'@'127.0.0.1' IDENTIFIED BY '$PASSWORD';
GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION;
FLUSH PRIVILEGES;"
mariadb --no-defaults -S "$SOCK" -uroot -p"$PASSWORD" -e "$SQL" >/dev/null 2>&1 ||
    mariadb --no-defaults -S "$SOCK" -uroot -e "$SQL" >/dev/null ||
    die "could not set the root password (log: $LOG)"

print_url
