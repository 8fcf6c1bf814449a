#!/usr/bin/env bash
# Start a private, loopback-only HTTP proxy (tinyproxy) for the model-proxy tests.
#
#   scripts/start-tinyproxy.sh DIR [USER:PASSWORD]
#
# DIR holds its config, log (every request it relays, CONNECT tunnels included) and pid file. With USER:PASSWORD
# the proxy asks for them (HTTP 407 otherwise). A free port is picked; the last line on stdout is the proxy's URL,
# e.g. http://127.0.0.1:PORT. Stop it with: kill "$(cat DIR/tinyproxy.pid)".
# Needs tinyproxy (Debian: apt-get install tinyproxy).
set -euo pipefail

die() { echo "start-tinyproxy: $*" >&2; exit 1; }

[ $# -ge 1 ] && [ -n "$1" ] || die "usage: $0 DIR [USER:PASSWORD]"
command -v tinyproxy >/dev/null || die "tinyproxy not found (apt-get install tinyproxy)"
mkdir -p "$1"
DIR=$(cd "$1" && pwd)

for _ in 1 2 3 4 5; do
    PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    {
        echo "Port $PORT"
        echo "Listen 127.0.0.1"
        echo "Timeout 120"
        echo "LogFile \"$DIR/tinyproxy.log\""
        echo "LogLevel Connect"
        echo "PidFile \"$DIR/tinyproxy.pid\""
        echo "MaxClients 500"
        echo "Allow 127.0.0.1"
        # No ConnectPort line: tunnels to any port (the test models listen on random ones).
        if [ $# -ge 2 ]; then echo "BasicAuth ${2%%:*} ${2#*:}"; fi
    } > "$DIR/tinyproxy.conf"
    rm -f "$DIR/tinyproxy.pid"
    tinyproxy -c "$DIR/tinyproxy.conf" || continue     # it forks into the background once it listens
    for _ in $(seq 1 100); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
            echo "http://127.0.0.1:$PORT"
            exit 0
        fi
        sleep 0.05
    done
    [ -f "$DIR/tinyproxy.pid" ] && kill "$(cat "$DIR/tinyproxy.pid")" 2>/dev/null || true
done
die "tinyproxy did not start (see $DIR/tinyproxy.log)"
