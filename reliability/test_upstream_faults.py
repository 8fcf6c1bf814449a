"""Upstream model faults, on SQLite and MariaDB: the model refuses connections, answers 500 / 429, drops the
connection mid-stream, hangs before the first token, stalls mid-answer, sends malformed chunks or an in-stream
error, or one 1 MB token. Each ends in a terminal status with the right error, the question stored, the client told
(`done`), and nothing leaked: no generation left running, the server's descriptors and its connections to the
model back to what they were (checked over several rounds: a leak grows with every round)."""
from __future__ import annotations

import re
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from helpers import (FIGURES, QUICK, Chatbox, FakeUpstream, Store, ask, client, free_port, new_conversation,
                     new_database, register, retry_race, wait_until)

TIMEOUT_S = 2
TOKENS = "".join(f"word{i} " for i in range(1, 6)).rstrip()   # the first five numbered tokens of the fake

# name, directive, expected status, error pattern, expected content (None: not checked beyond = what was streamed)
CASES = [
    ("http 500", '[[fake status=500 message="upstream exploded"]]', "failed",
     r"answered 500: upstream exploded", ""),
    ("http 429", '[[fake status=429 message="Rate limit reached"]]', "failed",
     r"answered 429: Rate limit reached", ""),
    ("drop mid-stream", "[[fake tokens=50 delay_ms=5 drop_after=5]]", "failed",
     r"ended before the answer was finished|connection", None),
    ("hang before first token", "[[fake hang]]", "failed",
     rf"did not start answering within {TIMEOUT_S} seconds", ""),
    ("stall mid-answer", "[[fake tokens=50 delay_ms=5 stall_after=5]]", "failed",
     rf"stopped sending for {TIMEOUT_S} seconds", TOKENS + " "),
    ("malformed chunk", "[[fake malformed=3]]", "failed", r"not valid JSON", None),
    ("in-stream error", '[[fake stream_error="quota exhausted"]]', "failed", r"quota exhausted", None),
    ("1 MB single token", "[[fake huge_kb=1024]]", "completed", None, None),
]


def check_turn(store: Store, c, conversation_id: int, question: str, turn, status: str, pattern, content):
    assert turn.status_code == 200, turn.error_body
    assert turn.done is not None, f"the client was not told the end: {turn.events[-3:]}"
    assert turn.done["status"] == status, turn.done
    if pattern:
        assert re.search(pattern, turn.done["error"] or ""), turn.done["error"]
    else:
        assert turn.done["error"] is None
    assert turn.done["content"] == turn.text, "the final content differs from what was streamed"
    if content is not None:
        assert turn.text == content
    rows = store.messages(conversation_id)
    assert [(r["role"], r["status"]) for r in rows] == [("user", "completed"), ("assistant", status)], rows
    assert rows[0]["content"] == question, "the question was not stored as typed"
    assert rows[1]["content"] == turn.text and (rows[1]["error"] or None) == turn.done["error"]
    assert c.get(f"/api/conversations/{conversation_id}/stream").status_code == 204, "the generation still runs"


def leak_round(server: Chatbox, store: Store, c, pool) -> None:
    ids = [new_conversation(c) for _ in CASES]
    questions = [f"fault {name}: {directive}" for name, directive, *_ in CASES]
    turns = list(pool.map(lambda a: retry_race(c, a[0], ask(c, a[0], a[1], timeout=60)), zip(ids, questions)))
    FIGURES.add("faults injected", len(CASES))
    for (name, _directive, status, pattern, content), cid, question, turn in zip(CASES, ids, questions, turns):
        try:
            check_turn(store, c, cid, question, turn, status, pattern, content)
        except AssertionError as error:
            raise AssertionError(f"{name}: {error}") from error
    huge = store.rows("SELECT LENGTH(content) AS n FROM messages WHERE conversation_id = ? AND role = 'assistant'",
                      ids[-1])[0]["n"]
    assert huge == 1024 * 1024, f"the 1 MB token was stored with {huge} bytes"


def test_upstream_faults_end_cleanly_and_leak_nothing(backend, mariadb, tmp, fake):
    url = new_database(backend, mariadb, tmp)
    server = Chatbox(f"faults-{backend}", url, fake.url, env={
        "CHATBOX_LLM_FIRST_TOKEN_TIMEOUT": str(TIMEOUT_S), "CHATBOX_LLM_STALL_TIMEOUT": str(TIMEOUT_S)})
    try:
        store = Store(url)
        token, _ = register(server.base)
        with client(server.base, token, timeout=60) as c, ThreadPoolExecutor(len(CASES)) as pool:
            # warm-up: a normal answer at the same concurrency, so pooled connections exist before the baseline
            warm = [new_conversation(c) for _ in CASES]
            for turn in pool.map(lambda cid: retry_race(c, cid, ask(c, cid, "[[fake tokens=5]]")), warm):
                assert turn.done and turn.done["status"] == "completed"
            time.sleep(0.5)
            base_fds, base_conns = server.fds(), fake.connections()
            samples = []
            for _ in range(2 if QUICK else 4):
                leak_round(server, store, c, pool)
                # once the round's connections are closed the numbers settle; a leak keeps them growing
                time.sleep(0.5)
                fds = wait_until(lambda: server.fds() <= base_fds + len(CASES) and server.fds(), 10) or server.fds()
                samples.append((fds, fake.connections()))
            FIGURES.high("server fds above baseline after faults", max(s[0] for s in samples) - base_fds)
            first, last = samples[0], samples[-1]
            assert last[0] <= first[0] + 2, f"server descriptors grow round after round: {base_fds} → {samples}"
            assert last[1] <= first[1] + 1, f"connections to the model grow round after round: {base_conns} → {samples}"
            assert last[1] <= base_conns + len(CASES), f"connections to the model left open: {base_conns} → {samples}"
            # and the conversation that hung is usable again at once
            cid = new_conversation(c)
            assert ask(c, cid, "[[fake hang]]").done["status"] == "failed"
            assert retry_race(c, cid, ask(c, cid, "[[fake tokens=3]]")).done["status"] == "completed"
    finally:
        server.stop()


def test_refused_connection_fails_with_the_reason(backend, mariadb, tmp):
    url = new_database(backend, mariadb, tmp)
    closed = free_port()   # nothing listens there
    server = Chatbox(f"refused-{backend}", url, f"http://127.0.0.1:{closed}/v1")
    try:
        store = Store(url)
        token, _ = register(server.base)
        with client(server.base, token) as c:
            for attempt in range(3):
                cid = new_conversation(c)
                started = time.monotonic()
                turn = ask(c, cid, f"is anyone there? {attempt}")
                FIGURES.add("faults injected")
                assert time.monotonic() - started < 5, "a refused connection must fail at once, not time out"
                check_turn(store, c, cid, f"is anyone there? {attempt}", turn, "failed",
                           r"Cannot reach the model at .*connection refused", "")
    finally:
        server.stop()


def test_model_killed_mid_answer(backend, mariadb, tmp):
    """The model process itself dies while answering: the answers fail, the next ones work once it is back."""
    url = new_database(backend, mariadb, tmp)
    upstream = FakeUpstream(f"fake-killed-{backend}")
    server = Chatbox(f"model-killed-{backend}", url, upstream.url)
    try:
        store = Store(url)
        token, _ = register(server.base)
        with client(server.base, token, timeout=60) as c, ThreadPoolExecutor(5) as pool:
            ids = [new_conversation(c) for _ in range(5)]
            futures = [pool.submit(ask, c, cid, "[[fake tokens=400 delay_ms=20]]") for cid in ids]
            time.sleep(1.5)
            upstream.proc.signal(9)
            FIGURES.add("faults injected")
            turns = [f.result() for f in futures]
            for cid, turn in zip(ids, turns):
                assert turn.done and turn.done["status"] == "failed", turn.done
                assert store.messages(cid)[1]["content"] == turn.text
    finally:
        server.stop()
        upstream.stop()


@pytest.mark.slow
@pytest.mark.parametrize("size_kb", [1024])
def test_huge_answer_survives_reattach(backend, mariadb, tmp, fake, size_kb):
    """A client that re-attaches after a 1 MB token gets the whole text in `start`."""
    url = new_database(backend, mariadb, tmp)
    server = Chatbox(f"huge-{backend}", url, fake.url)
    try:
        token, _ = register(server.base)
        with client(server.base, token, timeout=60) as c:
            cid = new_conversation(c)
            first = ask(c, cid, f"[[fake huge_kb={size_kb}]] [[fake tokens=1]]", stop_after_events=1)
            assert first.status_code == 200
            FIGURES.add("faults injected")
            done = wait_until(lambda: c.get(f"/api/conversations/{cid}/stream").status_code == 204, 30)
            assert done
            messages = c.get(f"/api/conversations/{cid}").json()["messages"]
            assert messages[-1]["status"] == "completed"
    finally:
        server.stop()
