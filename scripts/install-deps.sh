#!/usr/bin/env bash
# Installs the system packages Chatbox needs on Debian/Ubuntu, only those that are missing.
#   scripts/install-deps.sh            build and run: libmariadb-dev, pkg-config, python3 (for the browser libraries),
#                                      brotli (pre-compressed static files; without it only gzip siblings are made)
#   scripts/install-deps.sh --test     also what the tests need: mariadb-server (+ mariadb-plugin-mroonga), chromium,
#                                      python3-venv, tinyproxy and openssl (the model-proxy and TLS tests), and for
#                                      the scale-out suite haproxy, nginx-light, galera-4 and rsync (Galera's SST)
# The Swift 6 toolchain itself comes from swift.org (it is not a Debian package).
set -euo pipefail
want=(libmariadb-dev pkg-config python3 python3-pip brotli)
[[ "${1:-}" == "--test" ]] && want+=(mariadb-server mariadb-plugin-mroonga chromium python3-venv fonts-wqy-microhei
                                     tinyproxy openssl haproxy nginx-light galera-4 rsync)
have_python=false
command -v python3 >/dev/null && python3 -m pip --version >/dev/null 2>&1 && python3 -m venv --help >/dev/null 2>&1 \
  && have_python=true
missing=()
for package in "${want[@]}"; do
  # python3 may come from elsewhere (pyenv): ask apt for it only when the commands are absent.
  if $have_python && [[ "$package" == python3* ]]; then continue; fi
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if (( ${#missing[@]} == 0 )); then exit 0; fi
echo "install-deps: installing ${missing[*]}"
SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO="sudo"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
command -v swift >/dev/null || { echo "install-deps: the Swift 6 toolchain is missing: install it from swift.org" >&2; exit 1; }
