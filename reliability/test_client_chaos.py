"""Hundreds of clients at once (300; 60 in --quick), two per conversation, each doing a random series of: send a
question, re-attach, stop, regenerate, read, and leaving streams at random points. Afterwards every conversation is
consistent: one answer per question, questions exactly those accepted, every answer terminal, and every `done` a
client saw equals the stored row (when that answer was not replaced since). Statuses are only 200/201/204/409."""
from __future__ import annotations

import asyncio
import random
import time

from helpers import (FIGURES, QUICK, Chatbox, Gauge, Store, async_client, client, new_database, parse_sse_lines,
                     register, sse_lines_async, wait_until)

ALLOWED = {200, 201, 204, 409}


class Audit:
    def __init__(self):
        self.codes: dict[int, int] = {}
        self.accepted: dict[int, list[tuple[int, str]]] = {}   # conversation → [(user message id, content)]
        self.done: list[dict] = []
        self.actions = 0
        self.disconnects = 0
        self.streams = Gauge("concurrent client streams held")

    def code(self, status: int):
        self.codes[status] = self.codes.get(status, 0) + 1


async def read_stream(c, method, path, body, audit: Audit, conversation: int, leave_after: int | None):
    with audit.streams:
        async with c.stream(method, path, json=body) as r:
            audit.code(r.status_code)
            if r.status_code != 200:
                await r.aread()
                return
            events, buffer = 0, []
            async for line in sse_lines_async(r.aiter_bytes()):
                buffer.append(line)
                if line != "":
                    continue
                for event, data in parse_sse_lines(buffer):
                    events += 1
                    if event == "start" and path.endswith("/messages"):   # regenerate's start repeats the question
                        audit.accepted.setdefault(conversation, []).append(
                            (data["user_message"]["id"], data["user_message"]["content"]))
                    elif event == "done":
                        audit.done.append(data["message"])
                buffer = []
                if leave_after is not None and events >= leave_after:
                    audit.disconnects += 1
                    return   # leaving the block closes the connection mid-stream


async def one_client(c, conversation: int, index: int, actions: int, audit: Audit, rng: random.Random):
    for step in range(actions):
        await asyncio.sleep(rng.random() * 0.3)
        action = rng.choices(["send", "attach", "stop", "regenerate", "read"], [4, 2, 2, 2, 1])[0]
        leave = rng.choice([None, None, 1, 2, 3, 5, 10])
        audit.actions += 1
        path = f"/api/conversations/{conversation}"
        if action == "send":
            tokens, delay = rng.randint(3, 60), rng.randint(2, 25)
            content = f"client {index} step {step} [[fake tokens={tokens} delay_ms={delay}]]"
            await read_stream(c, "POST", path + "/messages", {"content": content}, audit, conversation, leave)
        elif action == "attach":
            await read_stream(c, "GET", path + "/stream", None, audit, conversation, leave)
        elif action == "regenerate":
            await read_stream(c, "POST", path + "/regenerate", None, audit, conversation, leave)
        elif action == "stop":
            audit.code((await c.post(path + "/stop")).status_code)
        else:
            audit.code((await c.get(path)).status_code)


async def chaos(base: str, tokens: list[str], conversations: list[tuple[int, int]], clients: int, actions: int,
                audit: Audit, seed: int):
    pool = [async_client(base, token, timeout=120) for token in tokens]
    try:
        jobs = []
        for i in range(clients):
            owner, conversation = conversations[i // 2]
            jobs.append(one_client(pool[owner], conversation, i, actions, audit, random.Random(seed * 100_000 + i)))
        await asyncio.gather(*jobs)
    finally:
        for c in pool:
            await c.aclose()


def test_hundreds_of_erratic_clients_leave_consistent_conversations(backend, mariadb, tmp, fake):
    clients = 60 if QUICK else 300
    actions = 4 if QUICK else 6
    users = max(1, clients // 20)
    url = new_database(backend, mariadb, tmp)
    server = Chatbox(f"chaos-{backend}", url, fake.url)
    store = Store(url)
    try:
        tokens = [register(server.base)[0] for _ in range(users)]
        conversations = []
        for n in range(clients // 2):
            owner = n % users
            with client(server.base, tokens[owner]) as c:
                conversations.append((owner, c.post("/api/conversations", json={"title": f"chaos {n}"}).json()
                                      ["conversation"]["id"]))
        audit = Audit()
        base_fds, base_model = server.fds(), fake.connections()
        started = time.monotonic()
        asyncio.run(chaos(server.base, tokens, conversations, clients, actions, audit, seed=7))
        FIGURES.add("client actions (chaos)", audit.actions)
        FIGURES.add("mid-stream disconnects (chaos)", audit.disconnects)
        FIGURES.high("concurrent clients (chaos)", clients)
        bad = {code: n for code, n in audit.codes.items() if code not in ALLOWED}
        assert not bad, f"unexpected statuses: {bad} (all: {audit.codes})"
        # every answer ends by itself (nobody listens to most of them any more)
        def idle():
            for owner, cid in conversations:
                with client(server.base, tokens[owner]) as c:
                    if c.get(f"/api/conversations/{cid}/stream").status_code != 204:
                        return False
            return True
        assert wait_until(idle, 120, interval=0.5), "generations still running 2 minutes after the clients left"
        FIGURES.high(f"chaos run seconds ({backend})", round(time.monotonic() - started, 1))
        # hundreds of dropped client connections and cancelled answers leave no descriptor or model connection
        settled = wait_until(lambda: server.fds() <= base_fds + 10 and fake.connections() <= base_model + 10, 30)
        assert settled, f"descriptors {base_fds} → {server.fds()}, model connections {base_model} → {fake.connections()}"
        done_by_id = {}
        for message in audit.done:
            done_by_id.setdefault(message["id"], []).append(message)
        for _owner, cid in conversations:
            rows = store.messages(cid)
            questions = [r for r in rows if r["role"] == "user"]
            accepted = audit.accepted.get(cid, [])
            assert [(r["id"], r["content"]) for r in questions] == sorted(accepted), (
                f"conversation {cid}: stored questions differ from the accepted ones")
            # A tree: every answer follows a question, every question follows an answer (or starts the tree), and
            # every question has its answer (regenerations add more beside it).
            by_id = {r["id"]: r for r in rows}
            for r in rows:
                parent = by_id.get(r["parent_id"]) if r["parent_id"] is not None else None
                if r["role"] == "assistant":
                    assert parent is not None and parent["role"] == "user", f"conversation {cid}: {r['id']} hangs loose"
                else:
                    assert r["parent_id"] is None or (parent is not None and parent["role"] == "assistant"), (
                        f"conversation {cid}: question {r['id']} does not follow an answer")
            answered = {r["parent_id"] for r in rows if r["role"] == "assistant"}
            assert all(q["id"] in answered for q in questions), (
                f"conversation {cid}: a question without an answer: {[r['role'] for r in rows]}")
            for r in rows:
                assert r["status"] in ("completed", "failed", "stopped"), f"{cid}: {r['status']}"
                for seen in done_by_id.get(r["id"], []):
                    assert (seen["status"], seen["content"]) == (r["status"], r["content"]), (
                        f"message {r['id']}: a client was told {seen['status']!r}, the database has {r['status']!r}")
        FIGURES.add("answers audited (chaos)", sum(len(v) for v in audit.accepted.values()))
    finally:
        server.stop()
