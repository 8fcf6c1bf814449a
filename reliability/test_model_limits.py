"""A hostile or broken model, on SQLite and MariaDB: a chunk nested a million levels deep, a line or an event that
never ends, an error body that never ends, an error that echoes the API key. The real server survives each one,
the answer is `failed` with a readable message that carries no secret and no raw error dump, the connection to the
model is dropped (the fake's endless writers stop), other users' answers meanwhile complete, and the server's
memory stays bounded. Also: an answer too long for MariaDB's MEDIUMTEXT does not stop the progress of the others
from being saved, and the command model's program does not see the server's environment."""
from __future__ import annotations

import re
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from helpers import (FIGURES, QUICK, Chatbox, Store, ask, client, new_conversation, new_database, register,
                     retry_race, wait_until)

API_KEY = "sk-reliability-0123456789abcdef"
SECRET = "hunter2-not-for-the-model"

# name, directive, error pattern (the whole message must be readable: no Swift error dump)
HOSTILE = [
    ("deep nesting", "[[fake deep_nest=1000000]]", r"^The model sent a chunk nested more than 64 levels deep"),
    ("endless line", "[[fake endless_line]]", r"^The model sent a line longer than 4 MB without ending it"),
    ("endless event", "[[fake endless_event]]", r"^The model sent an event larger than 4 MB"),
    ("endless error body", "[[fake endless_error=500]]", r"^The model provider answered 500: .{100,}…$"),
    ("key echoed", f'[[fake status=401 message="Incorrect API key provided: {API_KEY}"]]',
     r"^The model provider answered 401: Incorrect API key provided: \[redacted\]$"),
]
RAW_DUMPS = re.compile(r"HTTPClientError|NIOConnectionError|IOError\(|ChannelError|Error\(|errno:")


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def test_hostile_model_fails_the_answer_and_nothing_else(backend, mariadb, tmp, fake):
    url = new_database(backend, mariadb, tmp)
    server = Chatbox(f"model-limits-{backend}", url, fake.url, env={"CHATBOX_LLM_API_KEY": API_KEY})
    try:
        store = Store(url)
        hostile_token, _ = register(server.base)
        calm_token, _ = register(server.base)
        rounds = 1 if QUICK else 3
        with client(server.base, hostile_token, timeout=60) as bad, client(server.base, calm_token, timeout=60) as calm, \
                ThreadPoolExecutor(len(HOSTILE) + 2) as pool:
            # warm-up, so the baseline has pooled connections and warm allocator arenas
            cid = new_conversation(calm)
            assert retry_race(calm, cid, ask(calm, cid, "[[fake tokens=5]]")).done["status"] == "completed"
            time.sleep(0.5)
            base_rss, base_conns = rss_kb(server.pid), fake.connections()
            peak_rss = base_rss
            for _ in range(rounds):
                calm_ids = [new_conversation(calm) for _ in range(2)]
                calm_turns = [pool.submit(lambda c=c: retry_race(calm, c, ask(calm, c, "[[fake tokens=60 delay_ms=20]]")))
                              for c in calm_ids]
                ids = [new_conversation(bad) for _ in HOSTILE]
                turns = [pool.submit(ask, bad, c, f"hostile {name}: {directive}")
                         for c, (name, directive, _) in zip(ids, HOSTILE)]
                while not all(t.done() for t in turns + calm_turns):
                    peak_rss = max(peak_rss, rss_kb(server.pid))
                    time.sleep(0.05)
                FIGURES.add("faults injected", len(HOSTILE))
                for (name, _directive, pattern), cid, future in zip(HOSTILE, ids, turns):
                    turn = future.result()
                    assert turn.done is not None, f"{name}: the client was not told the end"
                    assert turn.done["status"] == "failed", f"{name}: {turn.done}"
                    error = turn.done["error"] or ""
                    assert re.search(pattern, error), f"{name}: {error!r}"
                    assert API_KEY not in error and not RAW_DUMPS.search(error), f"{name}: {error!r}"
                    rows = store.messages(cid)
                    assert [(r["role"], r["status"]) for r in rows] == [("user", "completed"), ("assistant", "failed")]
                    assert rows[1]["error"] == turn.done["error"] and rows[1]["content"] == turn.text, name
                    assert bad.get(f"/api/conversations/{cid}/stream").status_code == 204, f"{name}: still running"
                for cid, future in zip(calm_ids, calm_turns):
                    turn = future.result()
                    assert turn.done and turn.done["status"] == "completed", f"another user's answer: {turn.done}"
                    assert turn.text == "".join(f"word{i} " for i in range(1, 61)).rstrip()
                    assert store.messages(cid)[1]["content"] == turn.text
            assert server.proc.alive(), "the server died"
            # The endless writers of the fake stop only when the server drops their connections.
            settled = wait_until(lambda: fake.connections() <= base_conns + 2, 10)
            assert settled, f"connections to the model left open: {base_conns} → {fake.connections()}"
            grew_mb = (peak_rss - base_rss) / 1024
            FIGURES.high("server RSS growth under a hostile model (MB)", round(grew_mb, 1))
            # Each hostile answer may hold ~8 MB (a 4 MB line or event, and its copy); 5 at once, plus allocator slack.
            assert grew_mb < 300, f"RSS grew from {base_rss} kB to {peak_rss} kB"
            # and the server still answers normally
            cid = new_conversation(bad)
            assert retry_race(bad, cid, ask(bad, cid, "[[fake tokens=3]]")).done["status"] == "completed"
        assert "Fatal error" not in server.log_text()
    finally:
        server.stop()


def test_one_answer_too_long_for_the_database_does_not_stop_the_others_progress(backend, mariadb, tmp, fake):
    """An answer of 17 MB that then stalls: on MariaDB it cannot be stored (MEDIUMTEXT, max_allowed_packet), on
    SQLite it can. Either way, the other running answers' progress goes on being saved meanwhile."""
    url = new_database(backend, mariadb, tmp)
    server = Chatbox(f"model-limits-progress-{backend}", url, fake.url, env={
            "CHATBOX_CHAT_FLUSH_INTERVAL_MS": "200", "CHATBOX_CHAT_MAX_ANSWER_CHARS": "30000000"})  # past MEDIUMTEXT
    try:
        store = Store(url)
        token, _ = register(server.base)
        with client(server.base, token, timeout=120) as c, ThreadPoolExecutor(4) as pool:
            def saved(cid: int) -> int:
                rows = store.messages(cid)
                return len(rows[1]["content"]) if len(rows) > 1 else 0

            big = new_conversation(c)
            calm_ids = [new_conversation(c) for _ in range(3)]
            big_turn = pool.submit(ask, c, big, "[[fake huge_kb=1024 tokens=18 stall_after=17 delay_ms=50]]")
            calm_turns = [pool.submit(ask, c, cid, "[[fake tokens=400 delay_ms=20]]") for cid in calm_ids]
            # 17 MB arrive within ~1 s and the big answer then stays open; the calm ones run for ~8 s.
            time.sleep(3.0)
            before = [saved(cid) for cid in calm_ids]
            time.sleep(1.0)
            after = [saved(cid) for cid in calm_ids]
            assert all(not f.done() for f in calm_turns + [big_turn]), "the answers ended too early for the check"
            assert all(a > b for a, b in zip(after, before)), f"progress not saved: {before} → {after}"
            if backend == "mariadb":
                # On a busy machine the 17 MB can take longer to arrive than the sleeps above: the refusal must
                # have happened (and been logged) before the answer is stopped.
                assert wait_until(lambda: "could not save the progress of answer" in server.log_text(), 60), \
                    "the answer too long for the database was never refused"
            assert c.post(f"/api/conversations/{big}/stop").status_code in (200, 204)
            for future in calm_turns:
                assert future.result().done["status"] == "completed"
            big_turn.result()   # it ends, one way or another (how its final save fares is the turn's business)
            FIGURES.add("faults injected")
        assert server.proc.alive()
        if backend == "mariadb":
            assert server.log_text().count("could not save the progress of answer") == 1, "logged once, not every round"
    finally:
        server.stop()


@pytest.mark.parametrize("backend", ["sqlite"])
def test_command_model_gets_a_minimal_environment(backend, tmp):
    url = new_database(backend, None, tmp)
    server = Chatbox("model-limits-command", url, None, env={
        "CHATBOX_LLM_COMMAND": "cat >/dev/null; env", "CHATBOX_TEST_SECRET_FOR_MODEL": SECRET})
    try:
        token, _ = register(server.base)
        with client(server.base, token, timeout=30) as c:
            cid = new_conversation(c)
            turn = ask(c, cid, "print your environment")
            assert turn.done and turn.done["status"] == "completed", turn.done
            names = {line.split("=", 1)[0] for line in turn.text.splitlines() if "=" in line}
            assert SECRET not in turn.text
            assert not {n for n in names if n.startswith("CHATBOX_")}, names
            assert "PATH" in names
    finally:
        server.stop()
