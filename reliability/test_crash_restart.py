"""The server dies or is stopped with answers running, on SQLite and MariaDB.

SIGKILL in the middle of N running answers (50; 20 in --quick), then start again: every answer is `failed` with the
restart message (or complete), its stored text is a prefix of what its client had received and at most about one
flush interval (1 s) behind it, nothing stays `processing`, and no question is lost.
SIGTERM: answers that can finish within the grace period finish; longer ones are stopped cleanly (`failed`, with
the text so far) and the process exits within the grace period plus a few seconds."""
from __future__ import annotations

import signal
import time
from concurrent.futures import ThreadPoolExecutor

from helpers import (FIGURES, QUICK, Chatbox, Gauge, Store, Turn, ask, client, new_conversation, new_database,
                     register, retry_race, wait_until)

FULL = "".join(f"word{i} " for i in range(1, 2001)).rstrip()   # what [[fake tokens=2000]] streams
RESTART_ERROR = "The server restarted before this answer finished."
SHUTDOWN_ERROR = "The server shut down before this answer finished."
FLUSH_S = 1.0
SLACK_S = 1.0    # scheduling on 2 busy cores (50 streams), plus one database write


def run_answers(c, ids, question, turns, pool, gauge):
    def one(cid, turn):
        with gauge:
            ask(c, cid, question(cid), turn=turn, timeout=120)
    return [pool.submit(one, cid, turn) for cid, turn in zip(ids, turns)]


def test_sigkill_with_running_answers(backend, mariadb, tmp, fake):
    n = 20 if QUICK else 50
    url = new_database(backend, mariadb, tmp)
    server = Chatbox(f"sigkill-{backend}", url, fake.url, env={"CHATBOX_CHAT_FLUSH_INTERVAL_MS": str(int(FLUSH_S * 1000))})
    store = Store(url)
    try:
        token, _ = register(server.base)
        with client(server.base, token, timeout=120) as c, ThreadPoolExecutor(n) as pool:
            ids = [new_conversation(c, f"crash {i}") for i in range(n)]
            question = lambda cid: f"question of {cid} [[fake tokens=2000 delay_ms=20]]"   # noqa: E731
            turns = [Turn() for _ in ids]
            futures = run_answers(c, ids, question, turns, pool, Gauge("concurrent answers at SIGKILL"))
            # let every answer run for a while (more than two flush intervals), then kill
            started = wait_until(lambda: all(len(t.text) > 0 for t in turns), 30)
            assert started, f"not every answer started: {sum(1 for t in turns if t.text)} of {n}"
            time.sleep(2.5 * FLUSH_S)
            running = sum(1 for t in turns if t.done is None)
            killed_at = time.monotonic()
            server.kill()
            for f in futures:
                f.result()
        FIGURES.add("answers running at SIGKILL", running)
        server.restart()
        behind = []
        with client(server.base, token) as c:
            for cid, turn in zip(ids, turns):
                rows = store.messages(cid)
                assert [r["role"] for r in rows] == ["user", "assistant"], rows
                assert rows[0]["content"] == question(cid) and rows[0]["status"] == "completed", "question lost"
                answer = rows[1]
                assert answer["status"] in ("failed", "completed"), answer["status"]
                if answer["status"] == "failed" and turn.done is None:
                    assert answer["error"] == RESTART_ERROR, answer["error"]
                    received = turn.text
                    # both are prefixes of the one answer the model gives (the client may lag behind the server)
                    assert FULL.startswith(answer["content"]), "the stored text is not the model's text"
                    assert FULL.startswith(received), "the client got text that is not the model's"
                    # the stored text is at least what the client had a flush interval (+ slack) before the kill
                    floor = turn.text_at(killed_at - FLUSH_S - SLACK_S)
                    assert len(answer["content"]) >= floor, (
                        f"stored {len(answer['content'])} chars, the client had {floor} "
                        f"{FLUSH_S + SLACK_S:.2f} s before the kill")
                    # how long before the kill the client already had more than was stored (0: not at all)
                    ahead = [t for t, length in turn.timeline if length > len(answer["content"])]
                    behind.append(max(0.0, killed_at - ahead[0]) if ahead else 0.0)
                api = c.get(f"/api/conversations/{cid}").json()["messages"]
                assert api[1]["status"] == answer["status"] and api[1]["content"] == answer["content"]
            assert not store.rows("SELECT id FROM messages WHERE status = 'processing'"), "answers left processing"
            FIGURES.high(f"stored text behind the client at SIGKILL, max s ({backend})", round(max(behind, default=0), 2))
            # the conversations go on after the restart
            retried = retry_race(c, ids[0], ask(c, ids[0], "again [[fake tokens=3]]"))
            assert retried.done["status"] == "completed"
    finally:
        server.stop()


def test_sigterm_finishes_short_answers_and_stops_long_ones(backend, mariadb, tmp, fake):
    grace = 3
    url = new_database(backend, mariadb, tmp)
    server = Chatbox(f"sigterm-{backend}", url, fake.url, env={"CHATBOX_SHUTDOWN_GRACE_SECONDS": str(grace)})
    store = Store(url)
    n = 10 if QUICK else 20
    try:
        token, _ = register(server.base)
        with client(server.base, token, timeout=120) as c, ThreadPoolExecutor(2 * n) as pool:
            short_ids = [new_conversation(c, f"short {i}") for i in range(n)]
            long_ids = [new_conversation(c, f"long {i}") for i in range(n)]
            short_turns, long_turns = [Turn() for _ in short_ids], [Turn() for _ in long_ids]
            gauge = Gauge("concurrent answers at SIGTERM")
            futures = run_answers(c, short_ids, lambda cid: "[[fake tokens=60 delay_ms=25]]", short_turns, pool, gauge)
            futures += run_answers(c, long_ids, lambda cid: "[[fake tokens=5000 delay_ms=20]]", long_turns, pool, gauge)
            assert wait_until(lambda: all(t.text for t in short_turns + long_turns), 30), "answers did not start"
            sent_at = time.monotonic()
            server.proc.signal(signal.SIGTERM)
            FIGURES.add("faults injected")
            code = server.proc.wait(grace + 15)
            took = time.monotonic() - sent_at
            for f in futures:
                f.result()
        assert code is not None, f"still running {grace + 15} s after SIGTERM"
        FIGURES.high("seconds from SIGTERM to exit", round(took, 2))
        assert took <= grace + 5, f"took {took:.1f} s to stop with a {grace} s grace period"
        assert code == 0, f"exit code {code}"
        for cid, turn in zip(short_ids, short_turns):
            rows = store.messages(cid)
            assert [r["role"] for r in rows] == ["user", "assistant"]
            if "closed the connection without answering" in (rows[1]["error"] or "") or \
                    "closed channel" in (rows[1]["error"] or ""):
                continue   # lost to the keep-alive race (test_keepalive_race.py), not to the shutdown
            assert rows[1]["status"] == "completed", f"a short answer did not finish in the grace period: {rows[1]}"
        for cid, turn in zip(long_ids, long_turns):
            rows = store.messages(cid)
            assert [r["role"] for r in rows] == ["user", "assistant"]
            assert rows[1]["status"] == "failed", rows[1]["status"]
            if rows[1]["error"] != SHUTDOWN_ERROR:
                assert "closed" in (rows[1]["error"] or ""), rows[1]["error"]
                continue
            assert rows[1]["content"].startswith(turn.text), "the client saw text that was not stored"
        assert not store.rows("SELECT id FROM messages WHERE status = 'processing'")
        # a clean stop leaves nothing for the next start-up to repair
        server.restart()
        assert "unfinished answers as failed" not in server.log_text().split("==== ")[-1]
    finally:
        server.stop()
