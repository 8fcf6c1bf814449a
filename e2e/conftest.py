"""Browser tests: the real `chatbox` server (with the scriptable `fake-upstream` as its model) driven through Debian's
Chromium by Playwright. Binaries come from `swift build` (e2e/run.sh builds them first)."""
from __future__ import annotations

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


def bin_dir() -> Path:
    if os.environ.get("CHATBOX_BIN_DIR"):
        return Path(os.environ["CHATBOX_BIN_DIR"])
    out = subprocess.run(["swift", "build", "--show-bin-path"], cwd=ROOT, capture_output=True, text=True, check=True)
    return Path(out.stdout.strip().splitlines()[-1])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Proc:
    """A child process whose output goes to a log file (and, for fake-upstream, is scanned for its address)."""

    def __init__(self, name: str, args: list[str], env: dict | None = None, wait_for: str | None = None):
        LOGS.mkdir(parents=True, exist_ok=True)
        self.name = name
        self.log_path = LOGS / f"{name}.log"
        self.log = open(self.log_path, "a", encoding="utf-8")
        self.log.write(f"\n==== {time.strftime('%H:%M:%S')} {' '.join(args)}\n")
        self.log.flush()
        self.p = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT)
        self.match: re.Match | None = None
        found = threading.Event()

        def pump():
            for line in self.p.stdout:
                self.log.write(line)
                self.log.flush()
                if wait_for and not found.is_set():
                    m = re.search(wait_for, line)
                    if m:
                        self.match = m
                        found.set()

        threading.Thread(target=pump, daemon=True).start()
        if wait_for and not found.wait(30):
            self.stop()
            raise RuntimeError(f"{name} did not print /{wait_for}/; see {self.log_path}")

    def stop(self):
        if self.p.poll() is None:
            self.p.terminate()
            try:
                self.p.wait(10)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait(5)
        if getattr(self, "data_dir", None):
            shutil.rmtree(self.data_dir, ignore_errors=True)


def start_fake_upstream(port: int = 0, name: str = "fake-upstream") -> tuple[Proc, str]:
    proc = Proc(name, [str(bin_dir() / "fake-upstream"), "--port", str(port)],
                wait_for=r"listening on (http://127\.0\.0\.1:\d+/v1)")
    return proc, proc.match.group(1)


def start_chatbox(name: str, llm_base_url: str | None, extra_env: dict | None = None) -> tuple[Proc, str]:
    port = free_port()
    data = Path(tempfile.mkdtemp(prefix=f"chatbox-{name}-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHATBOX_")}
    env.update({
        "CHATBOX_HOST": "127.0.0.1",
        "CHATBOX_PORT": str(port),
        "CHATBOX_DATABASE_URL": f"sqlite://{data}/e2e.sqlite",
        "CHATBOX_BCRYPT_COST": "4",
        "CHATBOX_WEB_ROOT": str(ROOT / "web"),
        "CHATBOX_LOG_LEVEL": "info",
        # every test logs in from 127.0.0.1: keep the per-address limit out of the way of the per-account one
        "CHATBOX_LOGIN_MAX_FAILURES_PER_ADDRESS": "1000",
    })
    if llm_base_url:
        env.update({
            "CHATBOX_LLM_BASE_URL": llm_base_url,
            "CHATBOX_LLM_MODEL": "fake",
            "CHATBOX_LLM_FIRST_TOKEN_TIMEOUT": "3",
            "CHATBOX_LLM_STALL_TIMEOUT": "3",
        })
    env.update(extra_env or {})
    proc = Proc(name, [str(bin_dir() / "chatbox"), "serve"], env=env)
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while True:
        if proc.p.poll() is not None:
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
        time.sleep(0.2)
    proc.data_dir = data
    return proc, base


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
    proc, base = start_chatbox("chatbox", fake)
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
