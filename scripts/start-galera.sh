#!/usr/bin/env bash
# Start a private, loopback-only MariaDB Galera cluster of N nodes (default 3) for the scale-out tests.
#
#   scripts/start-galera.sh DIR [N]
#
# DIR/nodeI holds node I's data/, mysqld.sock, mysqld.pid, error.log and ports (mysql galera ist sst, one line).
# Node 1 bootstraps the cluster (--wsrep-new-cluster) from a fresh datadir with the test root password; the others
# join it one after the other and get their data by state transfer (rsync SST). Every port is picked free on
# 127.0.0.1 and every listener binds 127.0.0.1 only. Failure detection is tightened (a dead node is suspected after
# 2 s, evicted after 4 s) so a killed node does not stall the others' commits for long.
# The nodes run with the server default wsrep_sync_wait=0 (GALERA_SYNC_WAIT to change it): Chatbox asks for causal
# reads on its own connections (SET SESSION wsrep_sync_wait = 1 in MariaDBKit), and the suite checks that it does.
# Without causal reads a node applies others' commits a moment after they return, so with requests spread over nodes
# a session just created through one node is "Please log in." through another, a conversation just created is "not
# found" (both seen in the scale-out tests before the app set it).
# On success stdout ends with N lines, one URL per node:
#   mysql://root:chatbox-test@127.0.0.1:PORT/chatbox_test
# Needs mariadb-server, galera-4 and rsync. Stop it with scripts/stop-galera.sh DIR (all nodes) or DIR I (one).
set -euo pipefail

PASSWORD=chatbox-test
DATABASE=chatbox_test
PROVIDER=${GALERA_PROVIDER:-/usr/lib/galera/libgalera_smm.so}

die() { echo "start-galera: $*" >&2; exit 1; }

[ $# -ge 1 ] && [ -n "$1" ] || die "usage: $0 DIR [N]"
N=${2:-3}
[[ $N =~ ^[1-9]$ ]] || die "N must be 1 to 9, not $N"
mkdir -p "$1"
DIR=$(cd "$1" && pwd)
[ ${#DIR} -lt 80 ] || die "DIR too long for unix sockets: $DIR"

MARIADBD=$(command -v mariadbd || echo /usr/sbin/mariadbd)
[ -x "$MARIADBD" ] || die "mariadbd not found (apt-get install mariadb-server)"
[ -f "$PROVIDER" ] || die "$PROVIDER not found (apt-get install galera-4)"
command -v rsync >/dev/null || die "rsync not found (apt-get install rsync): it is the state transfer method"
command -v mariadb-install-db >/dev/null || die "mariadb-install-db not found"

# As root the nodes run as `mysql`: the rsync SST daemon a joiner starts would otherwise switch to `nobody` and
# could not write the joiner's datadir.
USER_ARGS=()
RUN_AS=""
if [ "$(id -u)" = 0 ]; then
    RUN_AS=mysql
    id "$RUN_AS" >/dev/null 2>&1 || die "user mysql not found (it comes with mariadb-server)"
    USER_ARGS=(--user="$RUN_AS")
fi

# 4 free ports per node, all distinct: held open together so none is handed out twice
read -r -a PORTS <<<"$(python3 - "$((4 * N))" <<'EOF'
import socket, sys
held = []
for _ in range(int(sys.argv[1])):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); held.append(s)
print(" ".join(str(s.getsockname()[1]) for s in held))
EOF
)"
port() { echo "${PORTS[$(( ($1 - 1) * 4 + $2 ))]}"; }   # node, 0 mysql / 1 galera / 2 ist / 3 sst

ADDRESS="gcomm://"
for i in $(seq 1 "$N"); do ADDRESS+="127.0.0.1:$(port "$i" 1),"; done
ADDRESS=${ADDRESS%,}
CLUSTER="chatbox-test-$$-$RANDOM"

alive() { kill -0 "$1" 2>/dev/null && ! grep -q '^[0-9]* ([^)]*) Z' "/proc/$1/stat" 2>/dev/null; }

sql() {   # node, statement: as root over the socket
    mariadb --no-defaults -S "$DIR/node$1/mysqld.sock" -uroot -p"$PASSWORD" -N -B -e "$2" 2>/dev/null ||
        mariadb --no-defaults -S "$DIR/node$1/mysqld.sock" -uroot -N -B -e "$2" 2>/dev/null
}

start_node() {   # node [extra args…]
    local i=$1; shift
    local d="$DIR/node$i"
    mkdir -p "$d/data" "$d/tmp"
    [ -z "$RUN_AS" ] || chown -R "$RUN_AS:" "$d"
    rm -f "$d/mysqld.pid" "$d/mysqld.sock"
    echo "$(port "$i" 0) $(port "$i" 1) $(port "$i" 2) $(port "$i" 3)" >"$d/ports"
    # setsid + redirected fds: the server must not hold the caller's stdout/stderr open.
    setsid "$MARIADBD" --no-defaults "${USER_ARGS[@]}" --datadir="$d/data" --tmpdir="$d/tmp" \
        --socket="$d/mysqld.sock" \
        --port="$(port "$i" 0)" --bind-address=127.0.0.1 --skip-name-resolve --pid-file="$d/mysqld.pid" \
        --log-error="$d/error.log" --character-set-server=utf8mb4 --collation-server=utf8mb4_unicode_ci \
        --skip-log-bin --innodb-buffer-pool-size=48M --max-connections=300 \
        --binlog-format=ROW --default-storage-engine=InnoDB --innodb-autoinc-lock-mode=2 \
        --wsrep-on=ON --wsrep-provider="$PROVIDER" --wsrep-cluster-name="$CLUSTER" \
        --wsrep-cluster-address="$ADDRESS" --wsrep-node-name="node$i" \
        --wsrep-node-address="127.0.0.1:$(port "$i" 1)" \
        --wsrep-provider-options="gmcast.listen_addr=tcp://127.0.0.1:$(port "$i" 1);ist.recv_addr=127.0.0.1:$(port "$i" 2);gcache.size=32M;evs.keepalive_period=PT0.5S;evs.inactive_check_period=PT0.5S;evs.suspect_timeout=PT2S;evs.inactive_timeout=PT4S;evs.install_timeout=PT4S" \
        --wsrep-sst-method=rsync --wsrep-sst-receive-address="127.0.0.1:$(port "$i" 3)" \
        --wsrep-slave-threads=2 --wsrep-sync-wait="${GALERA_SYNC_WAIT:-0}" "$@" \
        </dev/null >>"$d/mariadbd.out" 2>&1 &
    echo $! >"$d/launched.pid"   # setsid execs in place (a background job is no group leader): the server's pid
}

wait_synced() {   # node: until it answers and says Synced (90 s: an SST on a busy machine takes a while)
    local i=$1 state
    for _ in $(seq 1 900); do
        state=$(sql "$i" "SHOW STATUS LIKE 'wsrep_local_state_comment'" | awk '{print $2}' || true)
        [ "$state" = Synced ] && return 0
        alive "$(cat "$DIR/node$i/launched.pid")" || break
        sleep 0.1
    done
    tail -n 30 "$DIR/node$i/error.log" >&2 2>/dev/null || true
    die "node $i did not reach Synced (log: $DIR/node$i/error.log)"
}

cleanup_on_error() {
    local code=$?
    [ $code = 0 ] && return
    bash "$(dirname "${BASH_SOURCE[0]}")/stop-galera.sh" "$DIR" >/dev/null 2>&1 || true
    exit $code
}
trap cleanup_on_error EXIT

# node 1: a fresh datadir, then bootstrap
rm -rf "$DIR"/node*
# A private tmpdir per node: a starting mariadbd deletes the "#sql…" files in its tmpdir (see start-mariadb.sh).
mkdir -p "$DIR/node1/data" "$DIR/node1/tmp"
[ -z "$RUN_AS" ] || chown -R "$RUN_AS:" "$DIR"
mariadb-install-db --no-defaults "${USER_ARGS[@]}" --datadir="$DIR/node1/data" --tmpdir="$DIR/node1/tmp" \
    --auth-root-authentication-method=normal --skip-test-db >"$DIR/node1/install.log" 2>&1 ||
    { tail -n 20 "$DIR/node1/install.log" >&2; die "mariadb-install-db failed"; }
start_node 1 --wsrep-new-cluster
wait_synced 1
sql 1 "ALTER USER 'root'@'localhost' IDENTIFIED BY '$PASSWORD';
CREATE USER IF NOT EXISTS 'root'@'127.0.0.1' IDENTIFIED BY '$PASSWORD';
ALTER USER 'root'@'127.0.0.1' IDENTIFIED BY '$PASSWORD';
GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION;
FLUSH PRIVILEGES;" || die "could not set the root password"

# the others join one at a time (each gets a full copy from a donor)
for i in $(seq 2 "$N"); do
    start_node "$i"
    wait_synced "$i"
done

size=$(sql 1 "SHOW STATUS LIKE 'wsrep_cluster_size'" | awk '{print $2}')
[ "$size" = "$N" ] || die "wsrep_cluster_size is $size, not $N"
echo "galera: $N nodes synced, cluster $CLUSTER" >&2
for i in $(seq 1 "$N"); do echo "mysql://root:$PASSWORD@127.0.0.1:$(port "$i" 0)/$DATABASE"; done
