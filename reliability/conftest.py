"""Fixtures of the reliability suites: the private MariaDB, the `backend` parameter (sqlite / mariadb) and the
figures written at the end (test-artifacts/reliability/figures.json, also printed in pytest's summary)."""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import pytest

from helpers import ARTIFACTS, FIGURES, QUICK, Chatbox, FakeUpstream, MariaDB, Store, new_database, register

BACKENDS = [b for b in os.environ.get("RELIABILITY_BACKENDS", "sqlite,mariadb").split(",") if b]


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: left out of the --quick CI subset")


@pytest.fixture(scope="session")
def mariadb_server():
    """One private MariaDB for the session; each server gets its own database on it."""
    try:
        server = MariaDB()
    except Exception as error:  # noqa: BLE001 - reported as the skip reason
        pytest.skip(f"MariaDB could not be started (scripts/install-deps.sh --test installs it): {error}")
    yield server
    server.destroy()


@pytest.fixture(params=BACKENDS)
def backend(request) -> str:
    return request.param


@pytest.fixture
def mariadb(backend, request):
    """The shared MariaDB when the backend is mariadb, else None."""
    return request.getfixturevalue("mariadb_server") if backend == "mariadb" else None


@pytest.fixture
def tmp(request):
    path = Path(tempfile.mkdtemp(prefix="rel-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def fake():
    upstream = FakeUpstream("fake-upstream", delay_ms=5)
    yield upstream
    upstream.stop()


@pytest.fixture(scope="module", params=BACKENDS)
def app(request, fake):
    """One server per module and backend, with an admin (the first account) already registered. A module can set
    SERVER_ENV for extra settings. Attributes: base, store, backend, admin_token, port."""
    backend = request.param
    if QUICK and backend not in getattr(request.module, "QUICK_BACKENDS", BACKENDS):
        pytest.skip("--quick runs this module on SQLite only")
    mdb = request.getfixturevalue("mariadb_server") if backend == "mariadb" else None
    folder = Path(tempfile.mkdtemp(prefix="rel-app-", dir="/tmp"))
    url = new_database(backend, mdb, folder)
    name = request.module.__name__.replace("test_", "")
    server = Chatbox(f"{name}-{backend}", url, fake.url, env=getattr(request.module, "SERVER_ENV", {}))
    server.backend, server.store = backend, Store(url)
    server.admin_token, _ = register(server.base, "admin" + backend)
    yield server
    server.stop()
    shutil.rmtree(folder, ignore_errors=True)


def pytest_sessionfinish(session, exitstatus):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "figures.json").write_text(json.dumps(FIGURES.as_dict(), indent=2, ensure_ascii=False))


def pytest_terminal_summary(terminalreporter):
    figures = FIGURES.as_dict()
    terminalreporter.section("reliability figures")
    for name, value in sorted(figures["counts"].items()):
        terminalreporter.write_line(f"{name:>28}: {value}")
    for name, value in sorted(figures["highs"].items()):
        terminalreporter.write_line(f"{name:>28}: {value:g}")
    for note in figures["notes"]:
        terminalreporter.write_line(f"  - {note}")
