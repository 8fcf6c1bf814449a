"""An answer must not fail because the model server closed an idle keep-alive connection just as the chat server
reused it. The fake upstream closes the connection after every streamed response (without `Connection: close`),
which makes the race frequent: with 8 answers at a time about one in four fails with "closed the connection
without answering" or "I/O on closed channel". A request that got no byte back can be sent again on a new
connection (what the OpenAI SDKs do); the server does not. The other suites retry such answers (retry_race) and
count them in the figures."""
from __future__ import annotations

import socket
import json
from concurrent.futures import ThreadPoolExecutor

import pytest

from helpers import FIGURES, Chatbox, ask, client, is_keepalive_race, new_conversation, register


KEEPALIVE_BUG = (
    "BUG (server): an answer still fails with 'closed the connection without answering "
    "(HTTPClientError.remoteConnectionClosed)' when the model server closes pooled keep-alive connections as they "
    "are reused: the single retry of 41109ed goes back to the same pool and can take another stale connection "
    "(with 8 answers at a time several are stale at once). Retry on a fresh connection, or as long as the failure "
    "is 'closed before any byte' on a reused connection (bounded by the pool size): "
    "Sources/Chatbox/Data/LLM/OpenAICompatibleModel.swift send(…mayRetry:) / OpenAIStreamDelegate.")


def test_fake_upstream_keeps_streamed_connections_open_or_says_close(fake):
    """The fake itself: after a complete streamed response the connection must stay usable, or the response must
    say `Connection: close`. Observed: closed within ~50 ms, without the header."""
    body = json.dumps({"model": "fake", "stream": True,
                       "messages": [{"role": "user", "content": "[[fake tokens=3]]"}]}).encode()
    request = (b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
               b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
    with socket.create_connection(("127.0.0.1", fake.port), timeout=5) as s:
        s.sendall(request)
        reply = b""
        while not reply.endswith(b"0\r\n\r\n"):
            chunk = s.recv(65536)
            assert chunk, "the fake closed before the end of the response"
            reply += chunk
        says_close = b"connection: close" in reply.split(b"\r\n\r\n", 1)[0].lower()
        s.settimeout(0.3)
        try:
            closed = s.recv(1) == b""
        except socket.timeout:
            closed = False
    if closed and not says_close:
        pytest.xfail("BUG (fake-upstream): closes the connection after every streamed response without "
                     "`Connection: close`; clients that reuse it race (Sources/FakeUpstream/FakeUpstream.swift, "
                     "streaming(): consumeWithCancellationOnInboundClose)")


def test_no_answer_lost_to_an_upstream_keepalive_close(tmp, fake):
    server = Chatbox("keepalive-race", f"sqlite://{tmp}/race.sqlite", fake.url)
    try:
        token, _ = register(server.base)
        lost = []
        with client(server.base, token) as c, ThreadPoolExecutor(8) as pool:
            for _ in range(10):
                ids = [new_conversation(c, "fixed title") for _ in range(8)]
                turns = list(pool.map(lambda cid: ask(c, cid, "[[fake tokens=5]]"), ids))
                lost += [t.done["error"] for t in turns if is_keepalive_race(t)]
                if lost:
                    break
        if lost:
            FIGURES.note(f"keep-alive race: {len(lost)} answer(s) lost in one round of 8 concurrent answers")
            # timing-dependent, so an imperative xfail: the test passes (rather than XPASS-fails) once fixed
            pytest.xfail(KEEPALIVE_BUG + f" Seen: {lost[0]}")
    finally:
        server.stop()


# Regression: SIGTERM used to crash it (its signal handler closure was MainActor-isolated top-level code).
def test_fake_upstream_stops_cleanly_on_sigterm():
    import signal as signals
    from helpers import FakeUpstream
    upstream = FakeUpstream("fake-sigterm")
    upstream.proc.signal(signals.SIGTERM)
    code = upstream.proc.wait(30)
    output = "".join(upstream.proc.lines)
    assert code == 0 and "crashed" not in output, f"exit {code}: {output[-300:]}"
