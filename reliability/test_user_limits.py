"""One account must not stall or block others, on SQLite and MariaDB: another user hammering my conversation id gets
404s and never makes my turns fail (ownership is checked before the conversation is reserved); running answers and
open streams per user are capped (429 with a clear message, nothing stored for the refused question, other users
unaffected); an answer that streams on forever is cut at the answer limit and ends failed with its text kept; the
streams of a user who is disabled or deleted end at once and their answers stop."""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from helpers import (FIGURES, PASSWORD, QUICK, ask, client, new_conversation, register, retry_race, stream_turn,
                     wait_until)

MAX_RUNNING = 2
MAX_STREAMS = 4
MAX_ANSWER = 300
SERVER_ENV = {
    "CHATBOX_CHAT_MAX_RUNNING_PER_USER": str(MAX_RUNNING),
    "CHATBOX_CHAT_MAX_STREAMS_PER_USER": str(MAX_STREAMS),
    "CHATBOX_CHAT_MAX_ANSWER_CHARS": str(MAX_ANSWER),
}
SLOW = "[[fake tokens=400 delay_ms=50]]"


def user_messages(app, cid: int) -> list[str]:
    return [m["content"] for m in app.store.messages(cid) if m["role"] == "user"]


def open_stream(c, path: str):
    """Enters a streamed GET and leaves it open; returns (context manager, response)."""
    cm = c.stream("GET", path, timeout=30)
    return cm, cm.__enter__()


def test_another_user_hammering_my_conversation_gets_404_and_never_blocks_my_turns(app):
    owner, _ = register(app.base)
    intruder, _ = register(app.base)
    turns = 4 if QUICK else 12
    with client(app.base, owner, timeout=60) as a, client(app.base, intruder, timeout=30) as b:
        cid = new_conversation(a)
        stop = threading.Event()
        refused: list[int] = []
        bodies: set[str] = set()

        def hammer():
            paths = [("POST", f"/api/conversations/{cid}/messages", {"content": "mine now"}),
                     ("POST", f"/api/conversations/{cid}/regenerate", None),
                     ("POST", f"/api/conversations/{cid}/stop", None),
                     ("GET", f"/api/conversations/{cid}/stream", None)]
            i = 0
            while not stop.is_set():
                method, path, body = paths[i % len(paths)]
                r = b.request(method, path, json=body)
                refused.append(r.status_code)
                bodies.add(r.text)
                i += 1

        with ThreadPoolExecutor(4) as pool:
            hammers = [pool.submit(hammer) for _ in range(4)]
            results = []
            for n in range(turns):
                results.append(retry_race(a, cid, ask(a, cid, f"question {n} [[fake tokens=5 delay_ms=2]]")))
            stop.set()
            for h in hammers:
                h.result()
        FIGURES.add("cross-user id probes", len(refused))
        assert [t.status_code for t in results] == [200] * turns, [t.error_body for t in results]
        assert all(t.done and t.done["status"] == "completed" for t in results), [t.done for t in results]
        assert refused and set(refused) == {404}, f"the intruder got {sorted(set(refused))}"
        assert len(bodies) == 1, bodies
        assert user_messages(app, cid) == [f"question {n} [[fake tokens=5 delay_ms=2]]" for n in range(turns)]


def test_running_answers_per_user_are_capped_and_other_users_go_on(app):
    token, _ = register(app.base)
    other, _ = register(app.base)
    with client(app.base, token, timeout=60) as c, client(app.base, other, timeout=60) as o, \
            ThreadPoolExecutor(MAX_RUNNING) as pool:
        running = [new_conversation(c) for _ in range(MAX_RUNNING)]
        streams = [pool.submit(ask, c, cid, SLOW) for cid in running]
        assert wait_until(lambda: all(app.store.messages(cid) for cid in running), 20), "the answers did not start"
        extra = new_conversation(c)
        refused = ask(c, extra, "one too many")
        assert refused.status_code == 429, refused.error_body
        assert "answers being written" in refused.error_body
        assert user_messages(app, extra) == [], "a refused question is not stored"
        # another account is not held back by this one
        theirs_id = new_conversation(o)
        theirs = retry_race(o, theirs_id, ask(o, theirs_id, "[[fake tokens=3]]"))
        assert theirs.status_code == 200 and theirs.done["status"] == "completed", theirs.error_body
        # stopping one of mine frees a place
        assert c.post(f"/api/conversations/{running[0]}/stop").status_code == 204
        assert streams[0].result(timeout=30).done["status"] == "stopped"
        again = ask(c, extra, "now it fits [[fake tokens=3]]")
        assert again.status_code == 200, again.error_body
        for cid in running[1:]:
            c.post(f"/api/conversations/{cid}/stop")
        for s in streams:
            s.result(timeout=30)
    FIGURES.add("per-user limits refused", 1)


def test_open_streams_per_user_are_capped(app):
    token, _ = register(app.base)
    with client(app.base, token, timeout=60) as c, ThreadPoolExecutor(1) as pool:
        cid = new_conversation(c)
        path = f"/api/conversations/{cid}/stream"
        turn = pool.submit(ask, c, cid, SLOW)                    # the turn's own stream: one
        assert wait_until(lambda: len(app.store.messages(cid)) == 2, 20), "the answer did not start"
        held = []

        def attach() -> int:
            cm, r = open_stream(c, path)
            held.append(cm)
            return r.status_code

        try:
            assert [attach() for _ in range(MAX_STREAMS - 1)] == [200] * (MAX_STREAMS - 1)   # up to the limit
            assert attach() == 429
            FIGURES.add("per-user limits refused", 1)
            held.pop().__exit__(None, None, None)                # the refused one
            held.pop().__exit__(None, None, None)                # one held stream leaves: its slot is free again
            assert wait_until(lambda: attach() == 200, 10), "a closed stream gives its slot back"
        finally:
            for cm in held:
                cm.__exit__(None, None, None)
            c.post(f"/api/conversations/{cid}/stop")
            turn.result(timeout=30)


def test_an_endless_answer_is_cut_at_the_limit_and_kept(app):
    token, _ = register(app.base)
    with client(app.base, token, timeout=60) as c:
        cid = new_conversation(c)
        turn = retry_race(c, cid, ask(c, cid, "[[fake tokens=100000 delay_ms=0]]"))
        assert turn.status_code == 200
        assert turn.done["status"] == "failed", turn.done
        assert "answer was too long" in turn.done["error"]
        assert len(turn.done["content"]) == MAX_ANSWER
        assert turn.text == turn.done["content"], "the client got exactly the kept text"
        stored = [m for m in app.store.messages(cid) if m["role"] == "assistant"]
        assert stored[-1]["status"] == "failed" and stored[-1]["content"] == turn.done["content"]
        # the conversation goes on
        after = retry_race(c, cid, ask(c, cid, "[[fake tokens=3]]"))
        assert after.done["status"] == "completed"
    FIGURES.add("faults injected")


def test_stream_of_one_user_is_not_visible_to_another(app):
    owner, _ = register(app.base)
    intruder, _ = register(app.base)
    with client(app.base, owner, timeout=60) as a, client(app.base, intruder) as b, ThreadPoolExecutor(1) as pool:
        cid = new_conversation(a)
        turn = pool.submit(ask, a, cid, SLOW)
        assert wait_until(lambda: app.store.messages(cid), 20)
        r = stream_turn(b, "GET", f"/api/conversations/{cid}/stream")
        assert r.status_code == 404
        a.post(f"/api/conversations/{cid}/stop")
        assert turn.result(timeout=30).done["status"] == "stopped"


ENDLESS = "[[fake tokens=1000 delay_ms=2000]]"   # 300 characters would take over a minute


@pytest.mark.parametrize("how", ["disabled by an admin", "deleted by an admin", "deleted by themselves"])
def test_the_streams_of_a_disabled_or_deleted_user_end_at_once(app, how):
    token, user = register(app.base)
    other, _ = register(app.base)
    with client(app.base, token, timeout=60) as c, client(app.base, other, timeout=60) as o, \
            client(app.base, app.admin_token) as admin, ThreadPoolExecutor(3) as pool:
        cid = new_conversation(c)
        sent = pool.submit(ask, c, cid, ENDLESS)
        assert wait_until(lambda: len(app.store.messages(cid)) == 2, 20), "the answer did not start"
        attached = pool.submit(stream_turn, c, "GET", f"/api/conversations/{cid}/stream")
        theirs_id = new_conversation(o)
        theirs = pool.submit(ask, o, theirs_id, "[[fake tokens=20 delay_ms=100]]")
        if how == "disabled by an admin":
            r = admin.patch(f"/api/admin/users/{user['id']}", json={"disabled": True})
        elif how == "deleted by an admin":
            r = admin.delete(f"/api/admin/users/{user['id']}", params={"confirm": user["username"]})
        else:
            r = c.post("/api/account/delete", json={"password": PASSWORD})
        assert r.status_code in (200, 204), r.text
        # the endless answer would run for minutes: both streams end now
        for stream in (sent, attached):
            assert stream.result(timeout=30).status_code == 200
        if how == "disabled by an admin":
            answer = [m for m in app.store.messages(cid) if m["role"] == "assistant"][-1]
            assert wait_until(lambda: [m for m in app.store.messages(cid)
                                       if m["role"] == "assistant"][-1]["status"] == "failed", 10), answer
            assert "disabled or deleted" in [m for m in app.store.messages(cid)
                                             if m["role"] == "assistant"][-1]["error"]
        else:
            assert wait_until(lambda: app.store.messages(cid) == [], 10), "the conversation went with the account"
        # another user's answer was not touched
        assert theirs.result(timeout=30).done["status"] == "completed"
    FIGURES.add("faults injected")
