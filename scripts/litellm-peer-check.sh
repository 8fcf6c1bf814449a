#!/usr/bin/env bash
# Checks our OpenAI-compatible client against a server nobody here wrote: the LiteLLM proxy, offline, with
# scripted mock replies (a normal streamed reply, a 429 and a 500). Starts the proxy on a free loopback port, runs
# the LLMLiteLLMPeerTests suite against it (enabled by CHATBOX_TEST_LITELLM_URL), then stops the proxy.
#
#   scripts/litellm-peer-check.sh            # first run installs litellm into .venv-litellm (~1 min, ~740 MB)
#
# See /work/shared/notes/openai-compatible-peer.md for what LiteLLM sends.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
VENV="$ROOT/.venv-litellm"
KEY="sk-test-master-0123456789abcdef"   # LiteLLM refuses short master keys such as sk-1234

if [ ! -x "$VENV/bin/litellm" ]; then
    echo "installing litellm into $VENV …"
    python3 -m venv "$VENV"
    echo '*' > "$VENV/.gitignore"          # keep the venv out of git
    "$VENV/bin/pip" install -q "litellm[proxy]" prisma
fi

WORK=$(mktemp -d)
PROXY_PID=""
cleanup() {
    if [ -n "$PROXY_PID" ] && kill -0 "$PROXY_PID" 2>/dev/null; then
        kill -TERM "$PROXY_PID" 2>/dev/null || true
        for _ in $(seq 1 50); do kill -0 "$PROXY_PID" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$PROXY_PID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

cat > "$WORK/config.yaml" <<YAML
model_list:
  - model_name: fake
    litellm_params:
      model: openai/fake
      mock_response: "Hello from the mock server, this is a streamed reply."
  - model_name: fake-429
    litellm_params: {model: openai/fake, mock_response: "litellm.RateLimitError"}
  - model_name: fake-500
    litellm_params: {model: openai/fake, mock_response: "litellm.InternalServerError"}
general_settings:
  master_key: $KEY
  disable_model_info_refresh: true
YAML

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
echo "starting LiteLLM on 127.0.0.1:$PORT …"
LITELLM_LOCAL_MODEL_COST_MAP=True HF_HUB_OFFLINE=1 \
    "$VENV/bin/litellm" --config "$WORK/config.yaml" --host 127.0.0.1 --port "$PORT" > "$WORK/litellm.log" 2>&1 &
PROXY_PID=$!

for i in $(seq 1 120); do
    if curl -fsS -o /dev/null -H "Authorization: Bearer $KEY" "http://127.0.0.1:$PORT/v1/models" 2>/dev/null; then
        echo "LiteLLM ready after ~$((i / 2)) s"
        break
    fi
    if ! kill -0 "$PROXY_PID" 2>/dev/null; then
        echo "LiteLLM exited early:"; tail -30 "$WORK/litellm.log"; exit 1
    fi
    sleep 0.5
done
kill -0 "$PROXY_PID" 2>/dev/null || { echo "LiteLLM is not running"; exit 1; }

set +e
CHATBOX_TEST_LITELLM_URL="http://127.0.0.1:$PORT/v1" CHATBOX_TEST_LITELLM_KEY="$KEY" \
    swift test --filter LLMLiteLLMPeerTests 2>&1 | grep -vE '^\[[0-9]+/[0-9]+\]|^(Compiling|Building|Write|Emitting)'
STATUS=${PIPESTATUS[0]}
set -e
if [ "$STATUS" -ne 0 ]; then echo "--- LiteLLM log (tail) ---"; tail -30 "$WORK/litellm.log"; fi
exit "$STATUS"
