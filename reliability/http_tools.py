"""HTTP for the suites: clients that count what they send, registration, an SSE reader (split on LF only), one
streamed turn as a client saw it, raw socket requests, and the upstream keep-alive race the suites retry."""
from __future__ import annotations

import json
import re
import socket
import threading
import time
import uuid

import httpx

from figures import FIGURES

PASSWORD = "correct-horse-battery-9"


_SSL = None


def _ssl():
    """One SSL context for every client (building one per client costs ~0.1 s; all traffic here is plain http)."""
    global _SSL
    if _SSL is None:
        import ssl
        _SSL = ssl.create_default_context()
    return _SSL


def _count_request(request):
    FIGURES.add("requests sent")


def client(base: str, token: str | None = None, timeout: float = 30, **kw) -> httpx.Client:
    headers = dict(kw.pop("headers", {}) or {})
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return httpx.Client(base_url=base, headers=headers, timeout=timeout, verify=_ssl(),
                        event_hooks={"request": [_count_request]}, **kw)


def async_client(base: str, token: str | None = None, timeout: float = 60, **kw) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {token}"} if token else {}

    async def hook(request):
        FIGURES.add("requests sent")

    return httpx.AsyncClient(base_url=base, headers=headers, timeout=timeout, event_hooks={"request": [hook]},
                             verify=_ssl(),
                             limits=httpx.Limits(max_connections=1000, max_keepalive_connections=100), **kw)


def register(base: str, name: str | None = None) -> tuple[str, dict]:
    """A new user: (token, user)."""
    name = name or "u" + uuid.uuid4().hex[:12]
    with client(base) as c:
        r = c.post("/api/auth/register", json={"username": name, "password": PASSWORD})
        assert r.status_code == 201, r.text
        body = r.json()
        return body["token"], body["user"]


def new_conversation(c: httpx.Client, title: str | None = None) -> int:
    r = c.post("/api/conversations", json={"title": title} if title else None)
    assert r.status_code == 201, r.text
    return r.json()["conversation"]["id"]


def sse_lines(chunks):
    """Lines of an event stream from its bytes, split on LF only (str.splitlines would also split on U+2028,
    U+0085 and others, which SSE does not)."""
    buffer = b""
    for chunk in chunks:
        buffer += chunk
        *lines, buffer = buffer.split(b"\n")
        for line in lines:
            yield line.removesuffix(b"\r").decode("utf-8")
    if buffer:
        yield buffer.decode("utf-8")


async def sse_lines_async(chunks):
    buffer = b""
    async for chunk in chunks:
        buffer += chunk
        *lines, buffer = buffer.split(b"\n")
        for line in lines:
            yield line.removesuffix(b"\r").decode("utf-8")


def parse_sse_lines(lines):
    """Yields (event, data) from an iterator of text lines."""
    event, data = None, []
    for line in lines:
        if line == "":
            if event is not None or data:
                payload = "\n".join(data)
                yield event or "message", (json.loads(payload) if payload else None)
            event, data = None, []
        elif line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].lstrip(" ") if line[5:6] == " " else line[5:])


class Turn:
    """What one client saw of one streamed answer: the events, the text, when each piece arrived."""

    def __init__(self):
        self.status_code: int | None = None
        self.events: list[tuple[str, object]] = []
        self.text = ""
        self.timeline: list[tuple[float, int]] = []   # (monotonic time, len(text)) after each piece
        self.done: dict | None = None
        self.error_body: str | None = None
        self.lock = threading.Lock()

    def text_at(self, moment: float) -> int:
        """Characters received by `moment`."""
        with self.lock:
            length = 0
            for t, n in self.timeline:
                if t > moment:
                    break
                length = n
            return length


def stream_turn(c: httpx.Client, method: str, path: str, json_body=None, turn: Turn | None = None,
                stop_after_events: int | None = None, timeout: float = 60) -> Turn:
    """Runs one streamed request (send, regenerate, attach) and records it; ends at the stream's end, or early."""
    turn = turn or Turn()
    try:
        with c.stream(method, path, json=json_body, timeout=timeout) as r:
            turn.status_code = r.status_code
            if r.status_code != 200:
                turn.error_body = r.read().decode("utf-8", "replace")
                return turn
            for event, data in parse_sse_lines(sse_lines(r.iter_bytes())):
                with turn.lock:
                    turn.events.append((event, data))
                    if event == "start":
                        turn.text = data["assistant_message"]["content"]
                    elif event == "delta":
                        turn.text += data["text"]
                    elif event == "done":
                        turn.done = data["message"]
                    turn.timeline.append((time.monotonic(), len(turn.text)))
                if stop_after_events is not None and len(turn.events) >= stop_after_events:
                    break
    except (httpx.TransportError, httpx.StreamError) as error:
        turn.error_body = f"transport: {error!r}"
    return turn


def ask(c: httpx.Client, conversation_id: int, content: str, **kw) -> Turn:
    return stream_turn(c, "POST", f"/api/conversations/{conversation_id}/messages", {"content": content}, **kw)


def raw_request(port: int, data: bytes, timeout: float = 10) -> bytes:
    """Sends bytes as they are (for paths and headers no HTTP library would send) and returns the reply."""
    FIGURES.add("requests sent")
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        chunks = []
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                chunks.append(chunk)
                joined = b"".join(chunks)
                head, _, body = joined.partition(b"\r\n\r\n")
                m = re.search(rb"(?i)content-length:\s*(\d+)", head)
                if m and len(body) >= int(m.group(1)):
                    break
        except socket.timeout:
            pass
        return b"".join(chunks)


def status_of(reply: bytes) -> int:
    m = re.match(rb"HTTP/1\.[01] (\d{3})", reply)
    return int(m.group(1)) if m else 0


# ---------------------------------------------------------------- the upstream keep-alive race (a known bug)

KEEPALIVE_RACE = re.compile(r"closed the connection without answering|I/O on closed channel")


def is_keepalive_race(turn: Turn) -> bool:
    """The answer failed because a pooled connection to the model was closed just before it was reused: the fake
    upstream closes every streamed response's connection without `Connection: close`, and the server does not
    retry a request that got no byte back. Reported as a bug (test_keepalive_race.py); the suites retry it."""
    return bool(turn.done and turn.done["status"] == "failed" and KEEPALIVE_RACE.search(turn.done["error"] or ""))


def retry_race(c: httpx.Client, conversation_id: int, turn: Turn, attempts: int = 5) -> Turn:
    """Regenerates an answer lost to the keep-alive race (nothing else), up to `attempts` times."""
    for _ in range(attempts):
        if not is_keepalive_race(turn):
            return turn
        FIGURES.add("answers retried after the upstream keep-alive race (bug)")
        turn = stream_turn(c, "POST", f"/api/conversations/{conversation_id}/regenerate")
    return turn
