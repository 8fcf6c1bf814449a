#!/usr/bin/env bash
# Sets up and runs Chatbox: installs what is missing, fetches the browser libraries (checksum-verified),
# builds the server in release mode and starts it on http://127.0.0.1:8080 with an embedded SQLite file
# (./data/chatbox.sqlite) and the built-in demo model. Settings: CHATBOX_* variables or flags after the
# command, e.g. scripts/run.sh --port 9000 (see README).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/install-deps.sh
bash scripts/fetch-web-vendor.sh
swift build -c release --product chatbox
exec "$(swift build -c release --show-bin-path)/chatbox" serve "$@"
