"""Shared tools of the reliability suites: the real `chatbox` and `fake-upstream` binaries as child processes, a
private MariaDB, direct database access for audits, an HTTP client that counts what it sends, an SSE reader, and
the figures the run reports (faults injected, requests sent, concurrency held, rows audited, payloads tried)."""
from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import tempfile
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import unquote, urlparse

import httpx

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts" / "reliability"
LOGS = ARTIFACTS / "logs"
QUICK = os.environ.get("RELIABILITY_QUICK") == "1"

from figures import FIGURES, Figures, Gauge  # noqa: E402,F401  (re-exported for the tests)
from http_tools import (  # noqa: E402,F401
    KEEPALIVE_RACE, PASSWORD, Turn, ask, async_client, client, is_keepalive_race, new_conversation,
    parse_sse_lines, raw_request, register, retry_race, sse_lines, sse_lines_async, status_of, stream_turn)


# ---------------------------------------------------------------- binaries and processes

_BIN: Path | None = None


def bin_dir() -> Path:
    """A private copy of the built binaries (the shared .build may be rebuilt by others while we run)."""
    global _BIN
    if _BIN is None:
        source = os.environ.get("CHATBOX_BIN_DIR")
        if not source:
            out = subprocess.run(["swift", "build", "--show-bin-path"], cwd=ROOT, capture_output=True, text=True,
                                 check=True)
            source = out.stdout.strip().splitlines()[-1]
        target = Path(tempfile.mkdtemp(prefix="chatbox-rel-bin-"))
        for name in ("chatbox", "fake-upstream"):
            shutil.copy2(Path(source) / name, target / name)
        _BIN = target
    return _BIN


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fd_count(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def established(port: int) -> int:
    """TCP connections in ESTABLISHED state whose local port is `port` (the server side of them)."""
    total = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            if int(parts[1].rsplit(":", 1)[1], 16) == port and parts[3] == "01":
                total += 1
    return total


def wait_until(predicate, timeout: float, interval: float = 0.1):
    """Polls `predicate` until it returns something truthy (returned) or `timeout` passes (last value returned)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)


class Proc:
    """A child process logging to test-artifacts/reliability/logs/NAME.log."""

    def __init__(self, name: str, args: list[str], env: dict | None = None, wait_for: str | None = None,
                 preexec=None):
        LOGS.mkdir(parents=True, exist_ok=True)
        self.name = name
        self.log_path = LOGS / f"{name}.log"
        self.log = open(self.log_path, "a", encoding="utf-8", errors="replace")
        self.log.write(f"\n==== {time.strftime('%H:%M:%S')} {' '.join(args)}\n")
        self.log.flush()
        self.p = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                  errors="replace", cwd=ROOT, preexec_fn=preexec)
        self.match: re.Match | None = None
        self.lines: list[str] = []
        found = threading.Event()

        def pump():
            for line in self.p.stdout:
                self.log.write(line)
                self.log.flush()
                if len(self.lines) < 5000:
                    self.lines.append(line)
                if wait_for and not found.is_set():
                    m = re.search(wait_for, line)
                    if m:
                        self.match = m
                        found.set()

        threading.Thread(target=pump, daemon=True).start()
        if wait_for and not found.wait(60):
            self.stop()
            raise RuntimeError(f"{name} did not print /{wait_for}/; see {self.log_path}")

    @property
    def pid(self) -> int:
        return self.p.pid

    def alive(self) -> bool:
        return self.p.poll() is None

    def signal(self, sig: int):
        if self.alive():
            self.p.send_signal(sig)

    def wait(self, timeout: float) -> int | None:
        try:
            return self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self):
        if self.alive():
            self.p.terminate()
            if self.wait(20) is None:
                self.p.kill()
                self.p.wait(10)


class FakeUpstream:
    def __init__(self, name: str = "fake-upstream", delay_ms: int = 20):
        self.proc = Proc(name, [str(bin_dir() / "fake-upstream"), "--delay-ms", str(delay_ms)],
                         wait_for=r"listening on (http://127\.0\.0\.1:(\d+)/v1)")
        self.url = self.proc.match.group(1)
        self.port = int(self.proc.match.group(2))

    def connections(self) -> int:
        return established(self.port)

    def stop(self):
        # SIGKILL: it keeps no state, and SIGTERM currently crashes it (test_keepalive_race.py), which costs a
        # two-second backtrace each time
        if self.proc.alive():
            self.proc.p.kill()
            self.proc.wait(10)


class Chatbox:
    """The real server. `restart()` starts it again on the same port and database."""

    def __init__(self, name: str, database_url: str, llm_url: str | None, env: dict | None = None,
                 as_user: str | None = None):
        self.name, self.database_url, self.llm_url = name, database_url, llm_url
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.extra = dict(env or {})
        self.as_user = as_user
        self.proc: Proc | None = None
        self.start()

    def environment(self) -> dict:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CHATBOX_")}
        env.update({
            "CHATBOX_HOST": "127.0.0.1", "CHATBOX_PORT": str(self.port), "CHATBOX_DATABASE_URL": self.database_url,
            "CHATBOX_BCRYPT_COST": "4", "CHATBOX_WEB_ROOT": str(ROOT / "web"), "CHATBOX_LOG_LEVEL": "info",
            "CHATBOX_LOGIN_MAX_FAILURES_PER_ADDRESS": "1000", "CHATBOX_LOGIN_MAX_FAILURES": "1000",
            "CHATBOX_REGISTRATION_MAX_PER_ADDRESS": "100000",
            "CHATBOX_TITLE_TIMEOUT": "5",
            # The fault suites drive many answers, streams and sign-ups from one account and address; the per-user
            # and per-address limits have their own module (test_user_limits.py), which sets them low.
            "CHATBOX_CHAT_MAX_RUNNING_PER_USER": "1000", "CHATBOX_CHAT_MAX_STREAMS_PER_USER": "10000",
            "CHATBOX_CHAT_MAX_ANSWER_CHARS": "4000000", "CHATBOX_REGISTRATION_MAX_PER_ADDRESS": "100000",
        })
        if self.llm_url:
            env.update({"CHATBOX_LLM_BASE_URL": self.llm_url, "CHATBOX_LLM_MODEL": "fake",
                        "CHATBOX_LLM_FIRST_TOKEN_TIMEOUT": "10", "CHATBOX_LLM_STALL_TIMEOUT": "10"})
        env.update(self.extra)
        return env

    def start(self, wait: bool = True):
        args = [str(bin_dir() / "chatbox"), "serve"]
        if self.as_user:
            args = ["setpriv", f"--reuid={self.as_user}", f"--regid={self.as_user}", "--clear-groups"] + args
        self.proc = Proc(self.name, args, env=self.environment())
        if wait:
            self.wait_healthy()

    def wait_healthy(self, timeout: float = 60):
        deadline = time.monotonic() + timeout
        while True:
            if not self.proc.alive():
                raise RuntimeError(f"{self.name} exited with {self.proc.p.returncode}; see {self.proc.log_path}")
            try:
                if httpx.get(self.base + "/healthz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.name} did not answer /healthz; see {self.proc.log_path}")
            time.sleep(0.1)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def fds(self) -> int:
        return fd_count(self.pid)

    def kill(self):
        self.proc.signal(signal.SIGKILL)
        self.proc.wait(10)
        FIGURES.add("faults injected")

    def restart(self):
        self.start()

    def stop(self):
        if self.proc:
            self.proc.stop()

    def log_text(self) -> str:
        return "".join(self.proc.lines) if self.proc else ""


# ---------------------------------------------------------------- databases

MARIADB_PASSWORD = "chatbox-test"


class MariaDB:
    """A private MariaDB from scripts/start-mariadb.sh in its own directory (stop/start it to cause an outage)."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="rel-mdb-", dir="/tmp")
        self.url = self.start()
        self.port = urlparse(self.url).port

    def start(self) -> str:
        out = subprocess.run(["bash", str(ROOT / "scripts/start-mariadb.sh"), self.dir], capture_output=True,
                             text=True, timeout=120)
        if out.returncode != 0:
            raise RuntimeError(f"start-mariadb.sh failed: {out.stderr[-2000:]}")
        return out.stdout.strip().splitlines()[-1]

    def stop(self):
        subprocess.run(["bash", str(ROOT / "scripts/stop-mariadb.sh"), self.dir], capture_output=True, timeout=120)

    def url_for(self, database: str) -> str:
        return self.url.rsplit("/", 1)[0] + "/" + database

    def destroy(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


class Store:
    """Direct access to the app's database for audits and for forging state (expired sessions)."""

    def __init__(self, database_url: str):
        self.url = database_url
        self.flavor = "sqlite" if database_url.startswith("sqlite://") else "mysql"

    def _connect(self):
        if self.flavor == "sqlite":
            path = self.url[len("sqlite://"):]
            return sqlite3.connect(path, timeout=30)
        import pymysql
        u = urlparse(self.url)
        return pymysql.connect(host=u.hostname, port=u.port or 3306, user=unquote(u.username or ""),
                               password=unquote(u.password or ""), database=u.path.lstrip("/"), charset="utf8mb4",
                               autocommit=True, connect_timeout=10)

    def rows(self, sql: str, *params) -> list[dict]:
        if self.flavor == "mysql":
            sql = sql.replace("?", "%s")
        conn = self._connect()
        try:
            cur = conn.cursor()
            cur.execute(sql, params)
            names = [d[0] for d in cur.description] if cur.description else []
            result = [dict(zip(names, row)) for row in cur.fetchall()] if names else []
            if self.flavor == "sqlite":
                conn.commit()
            FIGURES.add("rows audited", len(result))
            return result
        finally:
            conn.close()

    def execute(self, sql: str, *params) -> int:
        if self.flavor == "mysql":
            sql = sql.replace("?", "%s")
        conn = self._connect()
        try:
            cur = conn.cursor()
            cur.execute(sql, params)
            conn.commit()
            return cur.rowcount
        finally:
            conn.close()

    def messages(self, conversation_id: int) -> list[dict]:
        return self.rows("SELECT id, role, content, status, error, model, reasoning, parent_id FROM messages "
                         "WHERE conversation_id = ? ORDER BY id", conversation_id)


def new_database(backend: str, mariadb: MariaDB | None, tmp: Path) -> str:
    if backend == "sqlite":
        return f"sqlite://{tmp}/chatbox-{uuid.uuid4().hex[:8]}.sqlite"
    assert mariadb is not None
    return mariadb.url_for(f"rel_{uuid.uuid4().hex[:12]}")
