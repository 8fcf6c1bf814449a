"""Browser tests: the real `chatbox` server (with the scriptable `fake-upstream` as its model) driven through Debian's
Chromium by Playwright. Binaries come from `swift build` (e2e/run.sh builds them first)."""
from __future__ import annotations

import atexit
import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import urllib.request
import uuid
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"
SHOTS = ARTIFACTS / "screenshots"
LOGS = ARTIFACTS / "logs"
CHROMIUM = os.environ.get("CHATBOX_E2E_CHROMIUM", "/usr/bin/chromium")
PASSWORD = "correct-horse-battery-9"
ADMIN_NAME = "e2e-admin"  # the first account of every server the suite starts with admin=…: the admin


def bin_dir() -> Path:
    if os.environ.get("CHATBOX_BIN_DIR"):
        return Path(os.environ["CHATBOX_BIN_DIR"])
    out = subprocess.run(["swift", "build", "--show-bin-path"], cwd=ROOT, capture_output=True, text=True, check=True)
    return Path(out.stdout.strip().splitlines()[-1])


_handed_out: set[int] = set()


def free_port() -> int:
    """A port nothing listens on now, never the same one twice in a run (for a process started later, e.g. a model
    that comes back). Servers the suite starts itself bind port 0 and report the port they got instead."""
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in _handed_out:
            _handed_out.add(port)
            return port
    raise RuntimeError("no free port")


_running: list["Proc"] = []


@atexit.register
def _stop_everything():
    """Whatever a failed fixture left running (or its temporary data) goes when pytest exits."""
    for proc in list(_running):
        proc.stop()


class Proc:
    """A child process whose output goes to a log file (and, for fake-upstream, is scanned for its address)."""

    def __init__(self, name: str, args: list[str], env: dict | None = None, wait_for: str | None = None):
        LOGS.mkdir(parents=True, exist_ok=True)
        self.name = name
        self.log_path = LOGS / f"{name}.log"
        self.log = open(self.log_path, "a", encoding="utf-8")
        self.log.write(f"\n==== {time.strftime('%H:%M:%S')} {' '.join(args)}\n")
        self.log.flush()
        self.data_dir: Path | None = None
        self.p = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT)
        _running.append(self)
        self.match: re.Match | None = None
        found = threading.Event()

        def pump():
            for line in self.p.stdout:
                try:
                    self.log.write(line)
                    self.log.flush()
                except ValueError:  # the log was closed by stop()
                    pass
                if wait_for and not found.is_set():
                    m = re.search(wait_for, line)
                    if m:
                        self.match = m
                        found.set()

        self.pump = threading.Thread(target=pump, daemon=True)
        self.pump.start()
        if wait_for:
            deadline = time.time() + 60
            while not found.wait(0.1):
                if self.p.poll() is not None or time.time() > deadline:
                    self.pump.join(2)  # the last lines reach the log
                    why = f"exited with {self.p.returncode}" if self.p.poll() is not None else "timed out"
                    self.stop()
                    raise RuntimeError(f"{name} {why} before printing /{wait_for}/; see {self.log_path}")

    def stop(self):
        started = time.time()
        how = "had exited"
        if self.p.poll() is None:
            self.p.terminate()
            how = "stopped"
            try:
                self.p.wait(10)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait(5)
                how = "killed (SIGTERM was not enough)"
        self.pump.join(2)
        if not self.log.closed:
            self.log.write(f"==== {time.strftime('%H:%M:%S')} {how} in {time.time() - started:.1f} s\n")
            self.log.close()
        if self.data_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)
            self.data_dir = None
        if self in _running:
            _running.remove(self)


def start_fake_upstream(port: int = 0, name: str = "fake-upstream") -> tuple[Proc, str]:
    proc = Proc(name, [str(bin_dir() / "fake-upstream"), "--port", str(port)],
                wait_for=r"listening on (http://127\.0\.0\.1:\d+/v1)")
    return proc, proc.match.group(1)


def start_chatbox(name: str, llm_base_url: str | None, extra_env: dict | None = None,
                  admin: tuple[str, str] | None = None) -> tuple[Proc, str]:
    """Starts a server on a port it picks itself (port 0; the log says which) with its own temporary database.
    `admin`: (username, password) of an account registered at once, so it is the admin (the first account is) and
    the accounts tests register later are ordinary users."""
    data = Path(tempfile.mkdtemp(prefix=f"chatbox-{name}-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHATBOX_")}
    env.update({
        "CHATBOX_HOST": "127.0.0.1",
        "CHATBOX_PORT": "0",
        "CHATBOX_DATABASE_URL": f"sqlite://{data}/e2e.sqlite",
        "CHATBOX_BCRYPT_COST": "4",
        "CHATBOX_WEB_ROOT": str(ROOT / "web"),
        "CHATBOX_LOG_LEVEL": "info",
        # every test logs in from 127.0.0.1: keep the per-address limit out of the way of the per-account one
        "CHATBOX_LOGIN_MAX_FAILURES_PER_ADDRESS": "1000",
        "CHATBOX_REGISTRATION_MAX_PER_ADDRESS": "100000",
    })
    if llm_base_url:
        env.update({
            "CHATBOX_LLM_BASE_URL": llm_base_url,
            "CHATBOX_LLM_MODEL": "fake",
            "CHATBOX_LLM_FIRST_TOKEN_TIMEOUT": "3",
            "CHATBOX_LLM_STALL_TIMEOUT": "3",
        })
    env.update(extra_env or {})
    try:
        proc = Proc(name, [str(bin_dir() / "chatbox"), "serve"], env=env,
                    wait_for=r"listening on 127\.0\.0\.1:(\d+)")
    except BaseException:
        shutil.rmtree(data, ignore_errors=True)
        raise
    proc.data_dir = data
    base = f"http://127.0.0.1:{proc.match.group(1)}"
    deadline = time.time() + 60
    while True:
        if proc.p.poll() is not None:
            proc.stop()
            raise RuntimeError(f"{name} exited with {proc.p.returncode}; see {proc.log_path}")
        try:
            with urllib.request.urlopen(base + "/healthz", timeout=2) as r:
                if r.status == 200:
                    break
        except OSError:
            pass
        if time.time() > deadline:
            proc.stop()
            raise RuntimeError(f"{name} did not answer /healthz; see {proc.log_path}")
        time.sleep(0.1)
    if admin:
        try:
            api_register(base, *admin)
        except BaseException:
            proc.stop()
            raise
    return proc, base


def api_register(base: str, username: str, password: str) -> dict:
    """POST /api/auth/register outside any browser; returns the user object."""
    req = urllib.request.Request(base + "/api/auth/register", method="POST",
                                 data=json.dumps({"username": username, "password": password}).encode(),
                                 headers={"Content-Type": "application/json", "Origin": base})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())["user"]


@pytest.fixture(scope="session", autouse=True)
def _artifacts():
    SHOTS.mkdir(parents=True, exist_ok=True)
    LOGS.mkdir(parents=True, exist_ok=True)


@pytest.fixture(scope="session")
def fake_upstream():
    proc, url = start_fake_upstream()
    yield url
    proc.stop()


@pytest.fixture(scope="session")
def server(request):
    """The main server: OpenAI-compatible provider pointing at the fake upstream.
    CHATBOX_E2E_BASE_URL=http://… runs the tests against a server that is already running instead."""
    if os.environ.get("CHATBOX_E2E_BASE_URL"):
        yield os.environ["CHATBOX_E2E_BASE_URL"].rstrip("/")
        return
    fake = request.getfixturevalue("fake_upstream")
    proc, base = start_chatbox("chatbox", fake, admin=(ADMIN_NAME, PASSWORD))
    yield base
    proc.stop()


@pytest.fixture(scope="session")
def demo_server():
    """A second server with no model configured: it runs the built-in demo model."""
    proc, base = start_chatbox("chatbox-demo", None)
    yield base
    proc.stop()


@pytest.fixture(scope="session")
def browser():
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                              args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])
        yield b
        b.close()


class PageWatch:
    """What a page did that it must not: JavaScript dialogs (alert from an XSS), uncaught errors, CSP violations."""

    def __init__(self, page):
        self.dialogs: list[str] = []
        self.errors: list[str] = []
        self.csp: list[str] = []
        page.on("dialog", self._dialog)
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        page.on("console", self._console)

    def _dialog(self, d):
        self.dialogs.append(f"{d.type}: {d.message}")
        d.dismiss()

    def _console(self, msg):
        if "Content Security Policy" in msg.text or "Refused to" in msg.text:
            self.csp.append(msg.text)

    def assert_clean(self):
        assert not self.dialogs, f"a dialog opened: {self.dialogs}"
        assert not self.errors, f"uncaught page errors: {self.errors}"
        assert not self.csp, f"CSP violations: {self.csp}"


def make_context(browser, base_url, **kw):
    opts = dict(base_url=base_url, viewport={"width": 1280, "height": 800}, locale="en-US", color_scheme="light")
    opts.update(kw)
    return browser.new_context(**opts)


@pytest.fixture
def context(browser, server):
    ctx = make_context(browser, server)
    yield ctx
    ctx.close()


@pytest.fixture
def page(context):
    pg = context.new_page()
    pg.set_default_timeout(15000)
    pg.watch = PageWatch(pg)
    yield pg
    pg.watch.assert_clean()


def unique_name(prefix="u") -> str:
    return f"{prefix}{uuid.uuid4().hex[:10]}"


def register(ctx, username: str | None = None, password: str = PASSWORD) -> str:
    """Creates a user through the API with the context's cookie jar, so its pages are logged in."""
    username = username or unique_name()
    r = ctx.request.post("/api/auth/register", data={"username": username, "password": password})
    assert r.status == 201, f"register: {r.status} {r.text()}"
    return username


@pytest.fixture
def user(context):
    return register(context)


@pytest.fixture
def logged_in(page, user):
    """A logged-in page on the blank chat."""
    page.goto("/")
    page.wait_for_selector(".empty-state")
    return page
