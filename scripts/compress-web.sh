#!/usr/bin/env bash
# Writes pre-compressed siblings of the web UI's text files (web/**/*.{html,css,js,mjs,svg,json}, vendor files
# included): FILE.gz (gzip level 9, python3) and FILE.br (brotli quality 11, with Debian's `brotli` command, or
# the Python `brotli` module when that is importable; without either only .gz is made). The server sends them by
# the request's Accept-Encoding and falls back to the plain file when a sibling is missing or older than it.
#
#   scripts/compress-web.sh            # idempotent: only files newer than their siblings are compressed again
#   scripts/compress-web.sh --force    # compress everything again
#   scripts/compress-web.sh --clean    # remove every .gz/.br sibling
#
# The siblings are generated, never committed (.gitignore). scripts/fetch-web-vendor.sh runs this at its end, so
# every set-up (scripts/run.sh, scripts/test.sh, e2e/run.sh) refreshes them.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"${PYTHON:-python3}" - "$ROOT/web" "${1:-}" <<'EOF'
import gzip, os, shutil, subprocess, sys

web, mode = sys.argv[1], sys.argv[2]
TEXT = (".html", ".css", ".js", ".mjs", ".svg", ".json")
SIBLINGS = (".gz", ".br")

brotli_cli = shutil.which("brotli")
brotli_module = None
if not brotli_cli:
    try:
        import brotli as brotli_module
    except ImportError:
        pass


def compress_br(path):
    if brotli_cli:
        return subprocess.run([brotli_cli, "-c", "-q", "11", path], check=True, capture_output=True).stdout
    with open(path, "rb") as f:
        return brotli_module.compress(f.read(), quality=11)


def compress_gz(path):
    with open(path, "rb") as f:
        return gzip.compress(f.read(), compresslevel=9, mtime=0)


def write_atomically(path, data):
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


makers = {".gz": compress_gz}
if brotli_cli or brotli_module:
    makers[".br"] = compress_br
made = kept = 0
saved = {".gz": [0, 0], ".br": [0, 0]}
for folder, _, names in os.walk(web):
    for name in names:
        path = os.path.join(folder, name)
        if name.endswith(SIBLINGS):
            source = path[:-3]
            if mode == "--clean" or not os.path.isfile(source) or not source.endswith(TEXT):
                os.remove(path)  # an orphan: its source is gone
            continue
        if mode == "--clean" or not name.endswith(TEXT):
            continue
        size, mtime = os.path.getsize(path), os.stat(path).st_mtime_ns
        for suffix, make in makers.items():
            sibling = path + suffix
            if mode != "--force" and os.path.isfile(sibling) and os.stat(sibling).st_mtime_ns >= mtime:
                kept += 1
                saved[suffix][0] += size
                saved[suffix][1] += os.path.getsize(sibling)
                continue
            data = make(path)
            if len(data) >= size:  # no gain (a tiny file): the server sends the plain one
                if os.path.exists(sibling):
                    os.remove(sibling)
                continue
            write_atomically(sibling, data)
            made += 1
            saved[suffix][0] += size
            saved[suffix][1] += len(data)

if mode == "--clean":
    print("web: removed the .gz/.br siblings")
    sys.exit(0)
summary = ", ".join(f"{s} {b // 1024} KB → {c // 1024} KB" for s, (b, c) in saved.items() if b)
print(f"web: pre-compressed siblings ready ({made} written, {kept} up to date; {summary})")
if ".br" not in makers:
    print("web: no brotli (Debian: apt-get install brotli): only .gz siblings made", file=sys.stderr)
EOF
