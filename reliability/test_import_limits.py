"""Imports that used to crash the server or hold up everyone else, on SQLite and MariaDB: ChatGPT times and Chatbox
dates far outside any calendar (1e300, -1e300, beyond Int64 milliseconds, before year 0, strings, booleans), huge
and deeply nested values, messages over the per-message limit; a big import while another user keeps chatting,
creating conversations and signing up (all their requests succeed, and some finish while the import is still
running); the export of that big history is one valid JSON document with every conversation."""
from __future__ import annotations

import json
import re
import threading
import time
import uuid
from typing import NamedTuple

import pytest

from helpers import FIGURES, QUICK, ask, client, register, retry_race

LIMIT = 5000   # characters per message on this server
SERVER_ENV = {"CHATBOX_CHAT_MAX_MESSAGE_CHARS": str(LIMIT)}
ISO = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
# The big import: sized so that storing it takes a few seconds on 2 shared cores.
BIG_CONVERSATIONS, BIG_MESSAGES, BIG_TEXT = (1500, 10, 300) if QUICK else (5000, 10, 500)


def chatgpt(title: str, create_time, message_time=1700000001, text="hello") -> dict:
    """One conversation of ChatGPT's conversations.json (a single user message)."""
    return {"title": title, "create_time": create_time, "update_time": None, "current_node": "u", "mapping": {
        "u": {"id": "u", "parent": None, "children": [], "message": {
            "author": {"role": "user"}, "content": {"content_type": "text", "parts": [text]},
            "create_time": message_time}}}}


def chatbox(conversations: list[dict]) -> dict:
    return {"format": "chatbox-export", "version": 1, "conversations": conversations}


def alive_and_listing(app, token: str) -> list[dict]:
    """The server answers, lists the user's conversations, and every date it shows is a plain ISO date."""
    assert app.proc.alive(), f"the server died; see {app.proc.log_path}"
    with client(app.base, token) as c:
        assert c.get("/healthz").status_code == 200
        r = c.get("/api/conversations?limit=200")
        assert r.status_code == 200, r.text
        listed = r.json()["conversations"]
        for conversation in listed:
            assert ISO.match(conversation["created_at"]) and ISO.match(conversation["updated_at"]), conversation
        for conversation in listed[:20]:
            shown = c.get(f"/api/conversations/{conversation['id']}").json()
            assert all(ISO.match(m["created_at"]) for m in shown["messages"]), shown
    return listed


BAD_TIMES = [1e300, -1e300, 9.3e15, 1e308, -62167219201, -1, "soon", "NaN", "inf", "-Infinity", True, {}, [],
             "1e300"]
BAD_DATES = ["0000-01-01T00:00:00Z", "1969-12-31T23:59:59Z", "1555-05-15T12:03:34.180Z", "yesterday", "",
             "10000-01-01T00:00:00Z", "-001000-01-01T00:00:00Z", "+275760-09-13T00:00:00.000Z"]


def test_bad_chatgpt_times_skip_their_conversation_and_the_server_lives(app):
    token, _ = register(app.base)
    conversations = [chatgpt(f"bad {i}", value) for i, value in enumerate(BAD_TIMES)]
    conversations += [chatgpt("bad message time", 1700000000, message_time=1e300),
                      chatgpt("fractional", 1700000000.4567), chatgpt("numeric string", "1700000002"),
                      chatgpt("no time", None)]
    with client(app.base, token) as c:
        r = c.post("/api/account/import", json=conversations)
    FIGURES.add("payloads tried", len(conversations))
    assert r.status_code == 200, r.text
    report = r.json()
    assert report["imported"] == 3, report
    assert sorted(s["title"] for s in report["skipped"]) == sorted(
        [f"bad {i}" for i in range(len(BAD_TIMES))] + ["bad message time"])
    assert all(s["reason"].startswith("skipped: bad date") for s in report["skipped"]), report["skipped"]
    listed = alive_and_listing(app, token)
    dates = {c["title"]: c["created_at"] for c in listed}
    assert dates["fractional"] == "2023-11-14T22:13:20.457Z"
    assert dates["numeric string"] == "2023-11-14T22:13:22.000Z"


def test_bad_chatbox_dates_skip_their_conversation_and_the_server_lives(app):
    token, _ = register(app.base)
    message = {"role": "user", "content": "hi"}
    conversations = [{"title": f"bad {i}", "created_at": d, "messages": [message]} for i, d in enumerate(BAD_DATES)]
    conversations += [
        {"title": "bad updated", "created_at": "2024-01-01T00:00:00Z", "updated_at": "+999999-01-01T00:00:00Z",
         "messages": [message]},
        {"title": "bad message date", "created_at": "2024-01-01T00:00:00Z",
         "messages": [dict(message, created_at="0001-01-01T00:00:00Z")]},
        {"title": "good", "created_at": "2024-01-01T00:00:00.5Z", "messages": [message]},
    ]
    with client(app.base, token) as c:
        r = c.post("/api/account/import", json=chatbox(conversations))
    FIGURES.add("payloads tried", len(conversations))
    assert r.status_code == 200, r.text
    report = r.json()
    assert report["imported"] == 1, report
    assert len(report["skipped"]) == len(conversations) - 1
    assert all(s["reason"].startswith("skipped: bad date") for s in report["skipped"]), report["skipped"]
    assert [c["title"] for c in alive_and_listing(app, token)] == ["good"]


def test_huge_and_nested_values_are_refused_or_bounded(app):
    token, _ = register(app.base)
    deep = "[" * 100_000 + "]" * 100_000
    raw_bodies = [
        deep,                                                                    # nesting the parser refuses
        '[{"title": "x", "create_time": 1e400, "mapping": {}}]',                 # a number no Double holds
        '[{"title": "x", "create_time": 123456789012345678901234567890, "mapping": {}}]',
        json.dumps(chatbox([{"id": 1e300, "title": "x", "created_at": "2024-01-01T00:00:00Z", "messages": []}])),
        '{"format": "chatbox-export", "version": 1e300, "conversations": []}',
        json.dumps([chatgpt("nested parts", 1700000000, text="x") | {"mapping": {"u": {"id": "u", "parent": None,
                    "children": [], "message": {"author": {"role": "user"}, "content": {
                        "parts": json.loads("[" * 400 + "1" + "]" * 400)}}}}}]),
    ]
    with client(app.base, token, headers={"Content-Type": "application/json"}) as c:
        for body in raw_bodies:
            r = c.post("/api/account/import", content=body.encode())
            FIGURES.add("payloads tried")
            assert r.status_code in (200, 413, 422), (body[:80], r.status_code, r.text[:300])
            if r.status_code != 200:
                assert r.json()["error"]["message"], r.text
        # A long title is cut to the title limit; a message over the message limit is cut with a note.
        long_title, long_text = "t" * 100_000, "汉" * (LIMIT * 3)
        r = c.post("/api/account/import", json=[chatgpt(long_title, 1700000000, text=long_text)])
        assert r.status_code == 200, r.text
        assert r.json()["cut_messages"] == 1, r.json()
    listed = alive_and_listing(app, token)
    cut = next(c for c in listed if c["title"].startswith("ttt"))
    assert len(cut["title"]) < 1000
    stored = app.store.messages(cut["id"])[0]["content"]
    assert len(stored) == LIMIT and stored.endswith(f"…[cut: the message was longer than {LIMIT} characters]")


def big_file() -> list[dict]:
    conversations = []
    for i in range(BIG_CONVERSATIONS):
        mapping, parent = {}, None
        for m in range(BIG_MESSAGES):
            node = f"n{m}"
            mapping[node] = {"id": node, "parent": parent, "children": [f"n{m + 1}"] if m + 1 < BIG_MESSAGES else [],
                             "message": {"author": {"role": "user" if m % 2 == 0 else "assistant"},
                                         "content": {"content_type": "text",
                                                     "parts": [f"{i}/{m} " + "lorem ipsum " * (BIG_TEXT // 12)]},
                                         "create_time": 1600000000 + i * 60 + m}}
            parent = node
        conversations.append({"title": f"big {i}", "create_time": 1600000000 + i * 60,
                              "update_time": 1600000000 + i * 60 + BIG_MESSAGES, "current_node": parent,
                              "mapping": mapping})
    return conversations


@pytest.fixture(scope="module")
def big_import(app):
    """One user imports the big file while another keeps chatting, creating conversations and signing people up.
    Returns the importer's token, the import's reply and timing, and the other user's operations as Op."""
    importer, importer_info = register(app.base)
    other, _ = register(app.base)
    body = json.dumps(big_file()).encode()
    FIGURES.note(f"import_limits[{app.backend}]: big import of {BIG_CONVERSATIONS} conversations × {BIG_MESSAGES} "
                 f"messages, {len(body) / 1e6:.1f} MB")
    operations: list[Op] = []
    window: dict = {}
    finished = threading.Event()

    def imported() -> int:
        return app.store.rows("SELECT COUNT(*) AS n FROM conversations WHERE user_id = ?", importer_info["id"])[0]["n"]

    def run(name: str, action):
        before, start = imported(), time.monotonic()
        ok, detail, result = action()
        operations.append(Op(name, start, time.monotonic(), ok, detail, before, imported()))
        return result

    def create(c):
        r = c.post("/api/conversations", json={"title": "meanwhile"})
        return r.status_code == 201, r.text[:200], r.json()["conversation"]["id"] if r.status_code == 201 else None

    def turn(c, conversation_id):
        t = retry_race(c, conversation_id, ask(c, conversation_id, "still there? [[fake reply=\"yes\"]]"))
        return (t.status_code == 200 and bool(t.done) and t.done["status"] == "completed",
                f"{t.status_code} {t.error_body} {t.done}", None)

    def sign_up():
        with client(app.base) as anonymous:
            r = anonymous.post("/api/auth/register", json={"username": "m" + uuid.uuid4().hex[:10],
                                                             "password": "correct-horse-battery-9"})
        return r.status_code == 201, r.text[:200], None

    def other_user():
        with client(app.base, other, timeout=60) as c:
            while not finished.is_set() or len(operations) < 6:
                conversation_id = run("create", lambda: create(c))
                if conversation_id is not None:
                    run("turn", lambda: turn(c, conversation_id))
                run("register", sign_up)

    worker = threading.Thread(target=other_user, daemon=True)
    worker.start()
    time.sleep(0.5)   # the other user is busy before the import starts
    with client(app.base, importer, timeout=600, headers={"Content-Type": "application/json"}) as c:
        window["start"] = time.monotonic()
        window["reply"] = c.post("/api/account/import", content=body)
        window["end"] = time.monotonic()
    finished.set()
    worker.join(120)
    assert not worker.is_alive(), "the other user's requests did not finish"
    FIGURES.high(f"big import seconds [{app.backend}]", round(window["end"] - window["start"], 2))
    return importer, window, operations


class Op(NamedTuple):
    """One request of the other user: when it ran, whether it succeeded, and how many conversations of the big
    import were stored just before it started and just after it was answered."""
    name: str
    start: float
    end: float
    ok: bool
    detail: str
    imported_before: int
    imported_after: int


def test_a_big_import_does_not_hold_up_other_users(app, big_import):
    _, window, operations = big_import
    reply = window["reply"]
    assert reply.status_code == 200, reply.text[:500]
    report = reply.json()
    assert report["imported"] == BIG_CONVERSATIONS and report["imported_messages"] == BIG_CONVERSATIONS * BIG_MESSAGES
    failed = [op for op in operations if not op.ok]
    assert not failed, failed[:5]
    FIGURES.add("requests sent during a big import", len(operations))
    # Order, not gaps: some of the other user's writes ran from start to answer while the import was part-way
    # stored (some of its conversations there before, not all after). One import transaction would make that
    # impossible: nothing is visible until everything is.
    midway = [op for op in operations
              if op.name != "turn" and 0 < op.imported_before and op.imported_after < BIG_CONVERSATIONS]
    assert len(midway) >= 2, [(op.name, op.imported_before, op.imported_after) for op in operations]
    FIGURES.high(f"other user's writes answered midway through a big import [{app.backend}]", len(midway))
    FIGURES.high(f"other user's slowest request during a big import, ms [{app.backend}]",
                 round(max(op.end - op.start for op in operations) * 1000))


def test_the_export_of_a_big_history_is_one_valid_document(app, big_import):
    token, _, _ = big_import
    with client(app.base, token, timeout=300) as c:
        r = c.get("/api/account/export")
    assert r.status_code == 200
    export = json.loads(r.content)
    assert export["format"] == "chatbox-export" and export["version"] == 2
    conversations = export["conversations"]
    assert len(conversations) == BIG_CONVERSATIONS
    assert {c["title"] for c in conversations} == {f"big {i}" for i in range(BIG_CONVERSATIONS)}
    assert all(len(c["messages"]) == BIG_MESSAGES for c in conversations)
    assert conversations[0]["title"] == f"big {BIG_CONVERSATIONS - 1}"   # newest first
    assert alive_and_listing(app, token)
