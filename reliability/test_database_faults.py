"""The database goes away under the server.

MariaDB stopped and started again during load (a private instance): requests in between get clean 503s (never a
500, never a hang), the server recovers by itself, and the audit finds no duplicated, lost or half-written rows.
SQLite on a read-only file system and on a full one (a small tmpfs mounted for the test): clear errors, recovery
once the disk is writable again, and `PRAGMA integrity_check` is ok."""
from __future__ import annotations

import os
import sqlite3
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from helpers import (FIGURES, QUICK, Chatbox, Gauge, MariaDB, Store, ask, client, is_keepalive_race,
                     new_conversation, register, retry_race, wait_until)

ALLOWED_DURING_OUTAGE = {200, 201, 204, 503}


class Load:
    """Workers that each create conversations and ask short questions until told to stop, recording everything."""

    def __init__(self, base: str, token: str, workers: int):
        self.base, self.token, self.workers = base, token, workers
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.statuses: list[tuple[float, str, int]] = []
        self.turns: list[tuple[int, object]] = []   # (conversation id, Turn)
        self.gauge = Gauge("concurrent clients during the MariaDB outage")

    def record(self, what: str, status: int):
        with self.lock:
            self.statuses.append((time.monotonic(), what, status))

    def worker(self, index: int):
        with client(self.base, self.token, timeout=30) as c, self.gauge:
            cid = None
            while not self.stop.is_set():
                try:
                    if cid is None:
                        r = c.post("/api/conversations", json={"title": f"load {index}"})
                        self.record("create", r.status_code)
                        if r.status_code == 201:
                            cid = r.json()["conversation"]["id"]
                        else:
                            time.sleep(0.2)
                        continue
                    turn = ask(c, cid, f"[[fake tokens=10 delay_ms=20]] from {index}", timeout=30)
                    self.record("send", turn.status_code or 0)
                    with self.lock:
                        self.turns.append((cid, turn))
                    if turn.status_code != 200:
                        time.sleep(0.2)
                    elif index % 3 == 0:
                        cid = None   # a third of the workers start new conversations often
                except httpx.HTTPError as error:
                    self.record(f"transport {type(error).__name__}", 0)
                    time.sleep(0.2)


def test_mariadb_outage_under_load(tmp, fake):
    try:
        db = MariaDB()
    except Exception as error:  # noqa: BLE001
        pytest.skip(f"MariaDB could not be started: {error}")
    url = db.url_for("outage")
    server = Chatbox("mariadb-outage", url, fake.url, env={"CHATBOX_DATABASE_POOL_SIZE": "4"})
    try:
        token, _ = register(server.base)
        load = Load(server.base, token, workers=6 if QUICK else 12)
        with ThreadPoolExecutor(load.workers) as pool:
            futures = [pool.submit(load.worker, i) for i in range(load.workers)]
            time.sleep(3)
            down_at = time.monotonic()
            db.stop()
            FIGURES.add("faults injected")
            health_down = wait_until(
                lambda: httpx.get(server.base + "/healthz", timeout=5).status_code == 503, 10)
            assert health_down, "/healthz did not report the database down"
            time.sleep(4 if QUICK else 8)
            db.start()
            up_at = time.monotonic()
            recovered = wait_until(lambda: httpx.get(server.base + "/healthz", timeout=5).status_code == 200, 30)
            recovered_at = time.monotonic()
            assert recovered, "the server did not recover after MariaDB came back"
            time.sleep(3)
            load.stop.set()
            for f in futures:
                f.result()
        FIGURES.high("seconds to recover after MariaDB came back", round(recovered_at - up_at, 2))
        statuses = load.statuses
        bad = [(round(t - down_at, 1), what, code) for t, what, code in statuses if code not in ALLOWED_DURING_OUTAGE]
        assert not bad, f"unclean answers during the outage (time after stop, request, status): {bad[:20]}"
        outage_503 = sum(1 for t, _, code in statuses if code == 503 and down_at <= t <= recovered_at + 1)
        FIGURES.add("503s during the MariaDB outage", outage_503)
        after = [code for t, _, code in statuses if t > recovered_at + 0.5]
        assert after and all(code in (200, 201) for code in after), f"errors after recovery: {after[:20]}"

        # wait for every answer to end, then audit every conversation row by row
        store = Store(url)
        conversations = sorted({cid for cid, _ in load.turns})
        with client(server.base, token) as c:
            assert wait_until(lambda: all(
                c.get(f"/api/conversations/{cid}/stream").status_code == 204 for cid in conversations), 60)
        # answers whose final save failed during the outage are saved by a later retry: give it time
        started_answers = {dict(t.events)["start"]["assistant_message"]["id"] for _, t in load.turns
                           if t.status_code == 200}
        wait_until(lambda: not [r for r in store.rows("SELECT id FROM messages WHERE status = 'processing'")
                                if r["id"] in started_answers], 30, interval=0.5)
        stuck = 0
        unknown_outcome = []
        for cid in conversations:
            rows = store.messages(cid)
            started = [t for i, t in load.turns if i == cid and t.status_code == 200]
            questions = [r for r in rows if r["role"] == "user"]
            if len(questions) != len(started):
                accepted_ids = {dict(t.events)["start"]["user_message"]["id"] for t in started}
                extra = [(r["id"], r["content"][:40]) for r in questions if r["id"] not in accepted_ids]
                refused = [(t.status_code, (t.error_body or "")[:120]) for i, t in load.turns
                           if i == cid and t.status_code != 200]
                unknown_outcome.append((cid, extra, refused))
                continue
            assert [r["role"] for r in rows] == ["user", "assistant"] * len(questions), "not one answer per question"
            by_id = {r["id"]: r for r in rows}
            for turn in started:
                start = dict(turn.events)["start"]
                user_id = start["user_message"]["id"]
                assert by_id[user_id]["content"] == start["user_message"]["content"], "question lost or changed"
                answer = by_id.get(start["assistant_message"]["id"])
                assert answer is not None, "an answer row is missing"
                if answer["status"] == "processing":
                    stuck += 1
                    continue
                if turn.done is not None and not is_keepalive_race(turn):
                    assert answer["status"] == turn.done["status"] and answer["content"] == turn.done["content"], (
                        f"the client was told {turn.done['status']!r}, the database says {answer['status']!r}")
        FIGURES.add("answers audited after the MariaDB outage", sum(1 for _, t in load.turns if t.status_code == 200))
        assert not stuck, f"{stuck} answer(s) still 'processing' 30 s after MariaDB came back"
        # a restart repairs what the outage left unfinished; nothing stays processing
        server.stop()
        server.restart()
        assert not store.rows("SELECT id FROM messages WHERE status = 'processing'")
        with client(server.base, token) as c:
            cid = new_conversation(c)
            assert retry_race(c, cid, ask(c, cid, "[[fake tokens=3]]")).done["status"] == "completed"
        if unknown_outcome:
            FIGURES.note(f"MariaDB outage: {sum(len(x[1]) for x in unknown_outcome)} question(s) stored although "
                         "the client got 503 (connection lost during COMMIT)")
            pytest.xfail(
                "BUG (server, timing-dependent): when MariaDB shuts down during a send, the connection can be lost "
                "during COMMIT after the server applied it: the client gets 503 'database unavailable' but the "
                "question (and a 'processing' answer, failed at the next restart) is stored, so the user's retry "
                "duplicates it. SQLChatStore.beginTurn / transaction (Sources/Chatbox/Data/SQLChatStore*.swift): on "
                "a connection error during COMMIT, check whether the rows landed before answering 503, or accept a "
                f"client request id to make the send idempotent. Seen: {unknown_outcome[:3]}")
    finally:
        server.stop()
        db.destroy()


@pytest.mark.slow
def test_answers_ending_during_an_outage_are_saved_after_it(tmp, fake):
    """Answers that end while MariaDB is down (longer than the final save's first retries) are saved once it is
    back, not left 'processing' until a restart. (Found by this suite.)"""
    try:
        db = MariaDB()
    except Exception as error:  # noqa: BLE001
        pytest.skip(f"MariaDB could not be started: {error}")
    url = db.url_for("outage_end")
    server = Chatbox("mariadb-outage-end", url, fake.url, env={"CHATBOX_DATABASE_POOL_SIZE": "2"})
    try:
        token, _ = register(server.base)
        with client(server.base, token, timeout=60) as c, ThreadPoolExecutor(4) as pool:
            ids = [new_conversation(c, f"outage {i}") for i in range(4)]
            futures = [pool.submit(ask, c, cid, "[[fake tokens=150 delay_ms=20]]") for cid in ids]
            time.sleep(1)
            db.stop()
            FIGURES.add("faults injected")
            turns = [f.result() for f in futures]   # they end (~3 s) while the database is down
            time.sleep(10)                           # longer than the final save's retries
            db.start()
            assert wait_until(lambda: httpx.get(server.base + "/healthz", timeout=5).status_code == 200, 30)
            time.sleep(3)
        store = Store(url)
        told = {t.done["status"] for t in turns if t.done}
        stuck = store.rows("SELECT id, status FROM messages WHERE status = 'processing'")
        assert not stuck, f"{len(stuck)} answers still 'processing' after recovery; the clients were told {told}"
    finally:
        server.stop()
        db.destroy()


# ---------------------------------------------------------------- SQLite on a read-only or full disk

def mount_tmpfs(path, size_kb: int):
    path.mkdir(parents=True, exist_ok=True)
    out = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_kb}k", "tmpfs", str(path)], capture_output=True,
                         text=True)
    if out.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({out.stderr.strip()}): read-only / full disk not testable")


def umount(path):
    subprocess.run(["umount", "-l", str(path)], capture_output=True)


def integrity(path) -> str:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    try:
        return conn.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        conn.close()


def chattr(flag: str, *paths) -> bool:
    out = subprocess.run(["chattr", flag, *[str(p) for p in paths if os.path.exists(p)]], capture_output=True,
                         text=True)
    return out.returncode == 0


def run_disk_fault(tmp, fake, fault: str) -> list[tuple[int, str]]:
    """read-only: the database file, its WAL and the folder made immutable (`chattr +i`: even the server's open
    descriptors can no longer write) while the server runs. full: the database on a 16 MB tmpfs filled to the
    last byte. Writes fail with an error, reads go on, and everything works again once the disk is writable;
    then `PRAGMA integrity_check`. Returns the write attempts' (status, message)."""
    disk = tmp / "disk"
    if fault == "full":
        mount_tmpfs(disk, 16384)
    else:
        disk.mkdir()
    path = disk / "chatbox.sqlite"
    locked = [path, f"{path}-wal", f"{path}-shm", disk]
    server = None
    filler = disk / "filler"
    try:
        server = Chatbox(f"sqlite-{fault}", f"sqlite://{path}", fake.url)
        token, _ = register(server.base)
        with client(server.base, token, timeout=30) as c:
            cid = new_conversation(c, "before")
            assert retry_race(c, cid, ask(c, cid, "[[fake tokens=20]] before")).done["status"] == "completed"
            before = c.get(f"/api/conversations/{cid}").json()
            if fault == "read-only":
                if not chattr("+i", *locked):
                    pytest.skip("chattr +i is not supported on this file system")
            else:
                fd = os.open(filler, os.O_WRONLY | os.O_CREAT)   # fill the file system to the last byte
                for block in (65536, 4096, 512, 1):
                    try:
                        while os.write(fd, b"\0" * block):
                            pass
                    except OSError:
                        pass
                os.close(fd)
            FIGURES.add("faults injected")
            results = write_attempts(c, cid)
            FIGURES.note(f"SQLite {fault} disk: create/rename/send/register answered {[r[0] for r in results]}")
            assert any(code >= 400 for code, _ in results), f"writes on a {fault} disk all succeeded: {results}"
            for code, message in results:
                assert code < 400 or message, "an error without {error: {message}}"
            # reads go on
            assert c.get(f"/api/conversations/{cid}").json()["messages"] == before["messages"]
            assert c.get("/api/auth/me").status_code == 200
            # back to normal
            if fault == "read-only":
                chattr("-i", *locked)
            else:
                os.remove(filler)
            time.sleep(0.5)
            c2 = new_conversation(c, "after")
            assert retry_race(c, c2, ask(c, c2, "[[fake tokens=5]] after")).done["status"] == "completed"
            assert c.patch(f"/api/conversations/{cid}", json={"title": "renamed after"}).status_code == 200
        server.stop()
        assert integrity(path) == "ok"
        store = Store(f"sqlite://{path}")
        assert not store.rows("SELECT id FROM messages WHERE status = 'processing'")
        roles = [r["role"] for r in store.messages(cid)]
        assert roles == ["user", "assistant"] * (len(roles) // 2), roles
        return results
    finally:
        chattr("-i", *locked)
        if server:
            server.stop()
        if fault == "full":
            umount(disk)


def error_message(response) -> str:
    try:
        return response.json()["error"]["message"]
    except Exception:  # noqa: BLE001
        return ""


def write_attempts(c, cid) -> list[tuple[int, str]]:
    """Every kind of write the API has, once; returns (status, error message)."""
    results = []
    for r in (c.post("/api/conversations", json={"title": "while broken"}),
              c.patch(f"/api/conversations/{cid}", json={"title": "renamed while broken"})):
        results.append((r.status_code, error_message(r)))
    turn = ask(c, cid, "[[fake tokens=3]] while broken", timeout=30)
    message = ""
    if turn.error_body and turn.error_body.startswith("{"):
        message = __import__("json").loads(turn.error_body)["error"]["message"]
    results.append((turn.status_code or 0, message))
    r = c.post("/api/auth/register", json={"username": f"late{time.time_ns() % 10**9}",
                                             "password": "correct-horse-battery-9"})
    results.append((r.status_code, error_message(r)))
    FIGURES.add("payloads tried", 4)
    return results


@pytest.mark.parametrize("fault", ["read-only", "full"])
def test_sqlite_disk_fault_is_survived_with_a_clear_error(tmp, fake, fault):
    """(The clear 503 instead of a 500 was found by this suite.)"""
    results = run_disk_fault(tmp, fake, fault)
    for code, message in results:
        if code >= 400:
            assert code in (503, 507) and "Something went wrong" not in message, (code, message)


def test_start_on_a_read_only_sqlite_database_says_so(tmp, fake):
    """Starting on a read-only database stops with one line naming the problem, not a crash. (Found by this suite:
    SQLitePool.openConnection left a failed connection unclosed, which SQLiteNIO asserts on.)"""
    path = tmp / "ro.sqlite"
    server = Chatbox("sqlite-ro-start", f"sqlite://{path}", fake.url)
    register(server.base)
    server.stop()
    locked = [path, f"{path}-wal", f"{path}-shm", tmp]
    if not chattr("+i", *locked):
        pytest.skip("chattr +i is not supported on this file system")
    try:
        FIGURES.add("faults injected")
        server.start(wait=False)
        code = server.proc.wait(30)
        output = server.log_text().split("serve\n")[-1]
    finally:
        chattr("-i", *locked)
        server.stop()
    assert code not in (None, 0), "it neither stopped nor served"
    assert "crashed" not in output and code > 0, f"exit {code}: {output[:300]}"
