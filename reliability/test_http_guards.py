"""Connection-level guards: DNS rebinding (while listening on a loopback address, only loopback `Host` names and
configured ones are served: 421 otherwise), the idle timeout for connections that send no complete request (slow or
absent headers) — while a long answer stream is never cut by it — and `/api/config` showing no command line to
visitors who are not signed in."""
from __future__ import annotations

import shutil
import socket
import tempfile
import time
from pathlib import Path

from helpers import FIGURES, Chatbox, ask, client, new_conversation, new_database, raw_request, register, status_of

QUICK_BACKENDS = ["sqlite"]   # --quick: nothing here depends on the database
IDLE_S = 2
SERVER_ENV = {"CHATBOX_HTTP_ALLOWED_HOSTS": "chat.example.org, Other.Example:8443",
              "CHATBOX_HTTP_IDLE_TIMEOUT_SECONDS": str(IDLE_S)}


def get_with_host(app, host: str, path: str = "/api/config", method: str = "GET") -> int:
    body = b"{}" if method == "POST" else b""
    request = (f"{method} {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
               f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode() + body
    return status_of(raw_request(app.port, request))


def test_only_loopback_and_configured_host_names_are_served(app):
    port = app.port
    allowed = ["localhost", f"localhost:{port}", f"127.0.0.1:{port}", "127.1.2.3", f"[::1]:{port}", "LOCALHOST.",
               "chat.example.org", "CHAT.example.org:443", "other.example"]
    refused = ["evil.example", f"evil.example:{port}", "chat.example.org.evil.example", "127.0.0.1.evil.example",
               "localhost.evil.example:80", "1.2.3.4", "[::2]", "0.0.0.0", "127.0.0.256"]
    for host in allowed:
        assert get_with_host(app, host) == 200, host
    for host in refused:
        for path, method in [("/api/config", "GET"), ("/", "GET"), ("/api/auth/login", "POST")]:
            assert get_with_host(app, host, path, method) == 421, (host, path)
            FIGURES.add("payloads tried")
    reply = raw_request(port, b"GET /api/config HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n")
    assert b"CHATBOX_HTTP_ALLOWED_HOSTS" in reply, "the refusal says how to allow the name"


def closed_within(sock: socket.socket, seconds: float, drip: bytes = b"") -> bool:
    """Whether the server closes the connection within `seconds`, sending `drip` a byte every 0.3 s meanwhile."""
    deadline = time.monotonic() + seconds
    sock.settimeout(0.3)
    sent = 0
    while time.monotonic() < deadline:
        try:
            if sock.recv(4096) == b"":
                return True
        except socket.timeout:
            pass
        except OSError:
            return True
        if sent < len(drip):
            try:
                sock.sendall(drip[sent:sent + 1])
            except OSError:
                return True
            sent += 1
    return False


def test_connections_that_send_no_request_are_closed(app):
    with socket.create_connection(("127.0.0.1", app.port)) as silent:
        assert closed_within(silent, IDLE_S + 10), "a silent connection stayed open"
    slow_head = b"GET /api/config HTTP/1.1\r\nHost: localhost\r\nX-Padding: " + b"a" * 200
    with socket.create_connection(("127.0.0.1", app.port)) as dripping:
        assert closed_within(dripping, IDLE_S + 10, drip=slow_head), "a slow-headers connection stayed open"
    FIGURES.add("faults injected", 2)


def test_an_answer_stream_outlives_the_idle_timeout(app):
    token, _ = register(app.base)
    with client(app.base, token, timeout=60) as c:
        cid = new_conversation(c)
        # the first token comes after twice the idle timeout: the stream is a response being written, not idle
        turn = ask(c, cid, f"[[fake tokens=2 first_delay_ms={IDLE_S * 2000}]]")
        assert turn.status_code == 200 and turn.done and turn.done["status"] == "completed", turn.error_body


def test_config_shows_no_command_line_to_visitors(tmp):
    url = new_database("sqlite", None, tmp)
    server = Chatbox("config-command", url, None,
                     env={"CHATBOX_LLM_COMMAND": "/opt/private/bin/model --api-key=sk-secret-123 --verbose"})
    try:
        with client(server.base) as anonymous:
            shown = anonymous.get("/api/config").json()["model"]
        assert shown["name"] == "command", shown
        token, _ = register(server.base)
        with client(server.base, token) as signed_in:
            name = signed_in.get("/api/config").json()["model"]["name"]
        assert "sk-secret" not in name and "--" not in name, name
    finally:
        server.stop()
