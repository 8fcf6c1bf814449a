#!/usr/bin/env bash
# Fetches the browser libraries of the web UI into web/vendor/ (git-ignored), from pinned PyPI wheels.
#
#   scripts/fetch-web-vendor.sh          # idempotent: does nothing when every file already matches web/vendor.lock
#   scripts/fetch-web-vendor.sh --force  # fetch again even if the files match
#   scripts/fetch-web-vendor.sh --update-lock  # after changing a pin: rewrite web/vendor.lock from the new wheels
#
# Each wheel is pinned by version and archive sha256 (pip --require-hashes); each extracted file is checked
# against web/vendor.lock (sha256 list, committed). Needs only python3 with pip; installs nothing. Ends by running
# scripts/compress-web.sh (the .gz/.br siblings of web/'s text files, made again only where a file changed).
#
#   nicegui 3.18.0          -> Vue 3.5.22 (ESM browser build), DOMPurify 3.4.16 (ESM)
#   sphinx-revealjs 3.2.1   -> marked 4.3 (inside reveal.js's markdown plugin), highlight.js 11.9 (highlight plugin)
#   djangocms-katex 1.0.2   -> KaTeX 0.16.40 (ESM, CSS, woff2 fonts)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENDOR="$ROOT/web/vendor"
LOCK="$ROOT/web/vendor.lock"
PY="${PYTHON:-python3}"

WHEELS=(
  "nicegui==3.18.0 --hash=sha256:a2bd51642312d98aab6d8b641245d796ff1b89da5829777170bcc488140c3dcd"
  "sphinx-revealjs==3.2.1 --hash=sha256:805bed3ca459346e0f01967d5ed1c40d6b7b917de1541e1e4566c8341fe7017b"
  "djangocms-katex==1.0.2 --hash=sha256:79774fa17f7d328252f6dd05688799fa7ee49abebb7cbe09f0cbf6f103352ac2"
)

verify() { # exit 0 when every file in the lock exists with the right sha256
  "$PY" - "$LOCK" "${VENDOR}" "${1:-}" <<'EOF'
import hashlib, os, sys
lock, vendor, verbose = sys.argv[1], sys.argv[2], sys.argv[3] == "-v"
bad = 0
for line in open(lock, encoding="utf-8"):
    line = line.strip()
    if not line or line.startswith("#"):
        continue
    digest, path = line.split(None, 1)
    full = os.path.join(vendor, path)
    if not os.path.isfile(full):
        bad += 1
        if verbose: print(f"missing: web/vendor/{path}", file=sys.stderr)
        continue
    if hashlib.sha256(open(full, "rb").read()).hexdigest() != digest:
        bad += 1
        if verbose: print(f"CHECKSUM MISMATCH: web/vendor/{path}", file=sys.stderr)
sys.exit(1 if bad else 0)
EOF
}

if [[ -z "${1:-}" ]] && [[ -d "$VENDOR" ]] && verify; then
  echo "web/vendor is up to date ($(grep -cv '^#' "$LOCK") files match web/vendor.lock)"
  bash "$ROOT/scripts/compress-web.sh"
  exit 0
fi

TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
printf '%s\n' "${WHEELS[@]}" > "$TMP/requirements.txt"
echo "downloading pinned wheels (nicegui, sphinx-revealjs, djangocms-katex) ..."
"$PY" -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: --require-hashes \
  -r "$TMP/requirements.txt" -d "$TMP/wheels"

# Extract the few files the page needs into a staging folder, then swap it in.
"$PY" - "$TMP/wheels" "$TMP/stage" <<'EOF'
import glob, os, sys, zipfile
wheels, stage = sys.argv[1], sys.argv[2]
KATEX = "djangocms_katex/static/djangocms_katex/vendor/katex/"
REVEAL = "sphinx_revealjs/_static/revealjs/plugin/"
plan = {
    "nicegui-": {
        "nicegui/static/vue.esm-browser.prod.js": "vue.esm-browser.prod.js",
        "nicegui/static/dompurify.mjs": "dompurify.mjs",
    },
    "sphinx_revealjs-": {
        REVEAL + "markdown/markdown.esm.js": "reveal-markdown.esm.js",
        REVEAL + "highlight/highlight.esm.js": "reveal-highlight.esm.js",
    },
    "djangocms_katex-": {
        KATEX + "katex.mjs": "katex/katex.mjs",
        KATEX + "katex.min.css": "katex/katex.min.css",
        KATEX + "LICENSE": "katex/LICENSE",
    },
}
for prefix, files in plan.items():
    [whl] = glob.glob(os.path.join(wheels, prefix + "*.whl"))
    with zipfile.ZipFile(whl) as z:
        names = z.namelist()
        wanted = dict(files)
        if prefix == "djangocms_katex-":  # the 20 woff2 fonts (the CSS lists woff2 first; browsers stop there)
            for n in names:
                if n.startswith(KATEX + "fonts/") and n.endswith(".woff2"):
                    wanted[n] = "katex/fonts/" + os.path.basename(n)
        for src, dst in wanted.items():
            if src not in names:
                sys.exit(f"{os.path.basename(whl)} has no {src}")
            out = os.path.join(stage, dst)
            os.makedirs(os.path.dirname(out), exist_ok=True)
            with open(out, "wb") as f:
                f.write(z.read(src))
EOF

if [[ "${1:-}" == "--update-lock" ]]; then  # only after changing a pin above, on purpose: review the diff
  ( cd "$TMP/stage" && find . -type f | sed 's|^\./||' | LC_ALL=C sort | while read -r f; do
      "$PY" -c 'import hashlib,sys; print(hashlib.sha256(open(sys.argv[1],"rb").read()).hexdigest() + "  " + sys.argv[1])' "$f"
    done ) > "$TMP/lock"
  { echo "# sha256 of every file scripts/fetch-web-vendor.sh puts in web/vendor/ (checked after each extraction)"
    cat "$TMP/lock"; } > "$LOCK"
  echo "wrote web/vendor.lock"
  # The vendor files are served under /vendor/<first 12 hex digits of the lock's sha256>/ (immutable, cached for a
  # year): point the page's import map at the new version.
  version="$("$PY" -c 'import hashlib,sys; print(hashlib.sha256(open(sys.argv[1],"rb").read()).hexdigest()[:12])' "$LOCK")"
  sed -i -E "s#/vendor/[0-9a-f]{12}/#/vendor/$version/#g" "$ROOT/web/index.html"
  echo "web/index.html now loads /vendor/$version/"
fi
if [[ ! -s "$LOCK" ]]; then
  echo "web/vendor.lock missing: cannot verify the extracted files" >&2
  exit 1
fi
if ! VENDOR="$TMP/stage" verify -v; then
  echo "the extracted files do not match web/vendor.lock: refusing to install them" >&2
  exit 1
fi
rm -rf "$VENDOR"
mkdir -p "$(dirname "$VENDOR")"
mv "$TMP/stage" "$VENDOR"
echo "web/vendor ready ($(grep -cv '^#' "$LOCK") files verified against web/vendor.lock)"
bash "$ROOT/scripts/compress-web.sh"
