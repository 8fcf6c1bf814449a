"""Account races and abuse against the real server, on SQLite and MariaDB: a burst of parallel wrong logins gets no
more guesses than the limit; every spelling of a name (spaces, case, NFD; MariaDB's utf8mb4_bin ignores trailing
spaces) shares one throttle budget; sign-ups are limited per address, parallel ones too; parallel first sign-ups on
an empty database make exactly one admin; two admins demoting, disabling or deleting each other at once leave one;
invisible usernames are refused. Outcomes and counts only, audited in the database."""
from __future__ import annotations

import asyncio
import itertools
import os
import shutil
import tempfile
import unicodedata
import uuid
from pathlib import Path

import pytest

from helpers import FIGURES, PASSWORD, QUICK, Chatbox, Store, async_client, client, new_database

BACKENDS = [b for b in os.environ.get("RELIABILITY_BACKENDS", "sqlite,mariadb").split(",") if b]
PER_ACCOUNT, SIGNUPS_PER_ADDRESS = 5, 5
BURST = 40 if QUICK else 60
ROUNDS = 3 if QUICK else 8
_addresses = itertools.count(1)


def fresh_address() -> str:
    n = next(_addresses)
    return f"10.{n // 65536 % 256}.{n // 256 % 256}.{n % 256}"


def start(name: str, backend: str, mariadb, folder: Path, fake, env: dict) -> Chatbox:
    url = new_database(backend, mariadb, folder)
    server = Chatbox(f"races-{name}-{backend}", url, fake.url, env={"CHATBOX_HTTP_TRUST_FORWARDED_FOR": "true", **env})
    server.backend, server.store = backend, Store(url)
    return server


@pytest.fixture(scope="module", params=BACKENDS)
def server(request, fake):
    """One server per backend with the limits under test; each test sends from its own X-Forwarded-For address."""
    backend = request.param
    mdb = request.getfixturevalue("mariadb_server") if backend == "mariadb" else None
    folder = Path(tempfile.mkdtemp(prefix="rel-races-", dir="/tmp"))
    s = start("limits", backend, mdb, folder, fake, {
        "CHATBOX_LOGIN_MAX_FAILURES": str(PER_ACCOUNT), "CHATBOX_LOGIN_MAX_FAILURES_PER_ADDRESS": "100000",
        "CHATBOX_REGISTRATION_MAX_PER_ADDRESS": str(SIGNUPS_PER_ADDRESS)})
    yield s
    s.stop()
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def empty(backend, mariadb, tmp, fake):
    """A server on an empty database (no admin yet)."""
    s = start("empty", backend, mariadb, tmp, fake, {"CHATBOX_REGISTRATION_MAX_PER_ADDRESS": "100000"})
    yield s
    s.stop()


def signup(base: str, name: str, address: str | None = None):
    with client(base, headers={"X-Forwarded-For": address or fresh_address()}) as c:
        return c.post("/api/auth/register", json={"username": name, "password": PASSWORD})


def new_user(base: str, name: str | None = None) -> tuple[str, dict]:
    r = signup(base, name or "u" + uuid.uuid4().hex[:10])
    assert r.status_code == 201, r.text
    return r.json()["token"], r.json()["user"]


def burst(base: str, calls: list[tuple[str, str, dict, dict]]) -> list[int]:
    """Sends every (method, path, json, headers) at once; their statuses in order."""
    async def run():
        async with async_client(base) as c:
            replies = await asyncio.gather(*(c.request(m, p, json=j, headers=h) for m, p, j, h in calls))
        return [r.status_code for r in replies]
    FIGURES.high("concurrent account requests", len(calls))
    return asyncio.run(run())


def assert_throttled(r, what: str):
    assert r.status_code == 429, f"{r.status_code} {r.text}"
    wait = int(r.headers["retry-after"])
    assert 1 <= wait <= 900, wait
    assert r.json()["error"]["message"] == f"{what} Try again in {wait} seconds."


def test_a_burst_of_parallel_wrong_logins_gets_no_more_guesses_than_the_limit(server):
    name = "burst" + uuid.uuid4().hex[:8]
    new_user(server.base, name)
    codes = burst(server.base, [("POST", "/api/auth/login", {"username": name, "password": f"wrong-{i}-guess"},
                                 {"X-Forwarded-For": fresh_address()}) for i in range(BURST)])
    FIGURES.add("login attempts", BURST)
    assert set(codes) <= {401, 429}, codes
    assert 1 <= codes.count(401) <= PER_ACCOUNT, f"{codes.count(401)} guesses reached bcrypt"
    with client(server.base, headers={"X-Forwarded-For": fresh_address()}) as c:
        r = c.post("/api/auth/login", json={"username": name, "password": PASSWORD})
    assert_throttled(r, "Too many failed logins.")


def test_every_spelling_of_a_name_shares_one_budget(server):
    tail = uuid.uuid4().hex[:6]
    name = "zoë" + tail                                   # NFC, as stored
    nfd = unicodedata.normalize("NFD", name)
    new_user(server.base, name)
    variants = [name + " ", " " + name.upper(), nfd, nfd.upper() + "  ", "\t" + name, name]
    with client(server.base) as c:
        def login(username, password):
            FIGURES.add("login attempts")
            return c.post("/api/auth/login", json={"username": username, "password": password},
                          headers={"X-Forwarded-For": fresh_address()})
        for variant in variants[:PER_ACCOUNT]:
            assert login(variant, "wrong-password-x").status_code == 401, repr(variant)
        for variant in variants:
            assert_throttled(login(variant, "wrong-password-x"), "Too many failed logins.")
        # the same spellings reach the same account with the right password
        other = "élan" + tail
        _, user = new_user(server.base, other)
        for variant in (" " + other.upper() + " ", unicodedata.normalize("NFD", other)):
            r = login(variant, PASSWORD)
            assert r.status_code == 200, (repr(variant), r.text)
            assert r.json()["user"]["id"] == user["id"]


def test_signups_are_limited_per_address_and_refusals_are_free(server):
    address = fresh_address()
    taken = "taken" + uuid.uuid4().hex[:6]
    new_user(server.base, taken)
    for _ in range(SIGNUPS_PER_ADDRESS + 2):       # answered before any hashing: not counted
        assert signup(server.base, taken.upper(), address).status_code == 409
        assert signup(server.base, "no\u200bway", address).status_code == 422
    made = [signup(server.base, "flood" + uuid.uuid4().hex[:8], address) for _ in range(SIGNUPS_PER_ADDRESS)]
    assert [r.status_code for r in made] == [201] * SIGNUPS_PER_ADDRESS
    assert_throttled(signup(server.base, "flood" + uuid.uuid4().hex[:8], address), "Too many sign-ups from your address.")
    # parallel sign-ups from one new address: exactly the limit gets through
    other, names = fresh_address(), ["par" + uuid.uuid4().hex[:10] for _ in range(30)]
    codes = burst(server.base, [("POST", "/api/auth/register", {"username": n, "password": PASSWORD},
                                 {"X-Forwarded-For": other}) for n in names])
    assert sorted(codes) == [201] * SIGNUPS_PER_ADDRESS + [429] * (30 - SIGNUPS_PER_ADDRESS), codes
    stored = server.store.rows("SELECT COUNT(*) AS n FROM users WHERE username LIKE ?", "par%")[0]["n"]
    assert stored == SIGNUPS_PER_ADDRESS


def test_parallel_wrong_current_passwords_are_throttled(server):
    token, _ = new_user(server.base)
    calls = [("POST", "/api/account/password", {"current_password": f"wrong-{i}-pass", "new_password": "new-pass-123"},
              {"Authorization": f"Bearer {token}"}) for i in range(30)]
    codes = burst(server.base, calls)
    assert set(codes) <= {403, 429}, codes
    assert 1 <= codes.count(403) <= PER_ACCOUNT, codes
    with client(server.base, token) as c:
        assert_throttled(c.post("/api/account/delete", json={"password": PASSWORD}),
                         "Too many wrong passwords for this account.")


INVISIBLE = ["\u3164", "ab\u3164", "\u115fx", "x\u1160", "\uffa0", "a\u200bb", "a\u200cb", "a\u200db", "a\u2060b",
             "\ufeffab", "a\u00adb", "admin\u202e", "a\u2066b\u2069", "a\u200eb", "\u0301", "\u0301abc", "_\u0301"]


def test_invisible_usernames_are_refused(server):
    FIGURES.add("payloads tried", len(INVISIBLE))
    for name in INVISIBLE:
        r = signup(server.base, name)
        assert r.status_code == 422, (repr(name), r.status_code, r.text)
        assert r.json()["error"]["message"].startswith("Username must not"), r.text
    assert signup(server.base, "x" * 20 + "\u0301" * 40).status_code == 422     # one long grapheme: too many bytes
    invisible = {ch for name in INVISIBLE for ch in name if not ch.isascii()}
    rows = server.store.rows("SELECT username FROM users")
    assert not [r["username"] for r in rows if invisible & set(r["username"])]


def test_parallel_first_signups_make_exactly_one_admin(empty):
    names = [f"first{i}" for i in range(20)]
    codes = burst(empty.base, [("POST", "/api/auth/register", {"username": n, "password": PASSWORD},
                                {"X-Forwarded-For": fresh_address()}) for n in names])
    assert codes == [201] * 20, codes
    admins = empty.store.rows("SELECT username FROM users WHERE role = 'admin'")
    assert len(admins) == 1, admins
    assert empty.store.rows("SELECT COUNT(*) AS n FROM users")[0]["n"] == 20


def test_two_admins_acting_on_each_other_at_once_leave_one(empty):
    root_token, root = new_user(empty.base, "root")
    assert root["role"] == "admin"
    survivor = (root_token, root)
    for round_ in range(ROUNDS):
        action = ("demote", "disable", "delete")[round_ % 3]
        s_token, s_user = survivor
        with client(empty.base, s_token) as c:
            name = f"deputy{round_}"
            made = c.post("/api/admin/users", json={"username": name, "password": PASSWORD, "role": "admin"})
            assert made.status_code == 201, made.text
            with client(empty.base) as anon:
                d_token = anon.post("/api/auth/login", json={"username": name, "password": PASSWORD}).json()["token"]
        d_user = made.json()["user"]
        pair = [(s_token, d_user), (d_token, s_user)]          # each acts on the other
        if action == "delete":
            calls = [("DELETE", f"/api/admin/users/{u['id']}?confirm={u['username']}", None,
                      {"Authorization": f"Bearer {t}"}) for t, u in pair]
        else:
            body = {"role": "user"} if action == "demote" else {"disabled": True}
            calls = [("PATCH", f"/api/admin/users/{u['id']}", body, {"Authorization": f"Bearer {t}"}) for t, u in pair]
        codes = burst(empty.base, calls)
        FIGURES.add("faults injected")
        ok = [i for i, code in enumerate(codes) if code in (200, 204)]
        assert len(ok) == 1, (action, codes)
        assert set(codes) - {200, 204} <= {401, 403, 409}, (action, codes)
        admins = empty.store.rows("SELECT id FROM users WHERE role = 'admin' AND disabled = 0")
        assert len(admins) == 1, (action, codes, admins)
        # the one who acted first is the admin left
        winner_token = pair[ok[0]][0]
        winner = s_user if winner_token == s_token else d_user
        assert admins[0]["id"] == winner["id"]
        survivor = (winner_token, winner)
