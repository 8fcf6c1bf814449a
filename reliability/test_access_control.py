"""Access control, on SQLite and MariaDB: every protected endpoint × (no session, unknown token, overlong token,
expired session, revoked session, another user's session by Bearer and by cookie, the owner by Bearer and by
cookie) → the expected status, with nothing changed by a refused request. Another user's conversations (ids are
sequential) never leak content, titles or existence: the same 404 body as an id that does not exist, for every
conversation route and the Markdown export; another user's session ids cannot be revoked."""
from __future__ import annotations

import uuid

import httpx

from helpers import FIGURES, PASSWORD, ask, client, new_conversation, register, retry_race

SECRET = "secret-" + uuid.uuid4().hex[:8]


QUICK_BACKENDS = ["sqlite"]   # --quick: the middleware under test does not depend on the database


def login(base: str, name: str) -> str:
    with client(base) as c:
        r = c.post("/api/auth/login", json={"username": name, "password": PASSWORD})
        assert r.status_code == 200, r.text
        return r.json()["token"]


def identities(app, a_name: str, b_token: str, a_token: str) -> dict[str, dict]:
    """Headers for each identity; the expired and revoked sessions are A's own."""
    expired = login(app.base, a_name)
    latest = app.store.rows("SELECT MAX(id) AS id FROM sessions")[0]["id"]
    assert app.store.execute("UPDATE sessions SET expires_at = 1000 WHERE id = ?", latest) == 1
    revoked = login(app.base, a_name)
    with client(app.base, revoked) as c:
        assert c.post("/api/auth/logout").status_code == 204
    return {
        "no session": {},
        "unknown token": {"Authorization": "Bearer " + "x" * 43},
        "overlong token": {"Authorization": "Bearer " + "y" * 5000},
        "expired session": {"Authorization": f"Bearer {expired}"},
        "revoked session": {"Authorization": f"Bearer {revoked}"},
        "revoked cookie": {"Cookie": f"chatbox_session={revoked}"},
        "other user bearer": {"Authorization": f"Bearer {b_token}"},
        "other user cookie": {"Cookie": f"chatbox_session={b_token}"},
        "owner bearer": {"Authorization": f"Bearer {a_token}"},
        "owner cookie": {"Cookie": f"chatbox_session={a_token}"},
    }


def endpoints(cid: int, a_session: int, a_id: int, a_name: str):
    """(method, path, body, status for the owner, status for another plain user)."""
    c = f"/api/conversations/{cid}"
    return [
        ("GET", "/api/auth/me", None, 200, 200),
        ("GET", "/api/conversations", None, 200, 200),
        ("POST", "/api/conversations", {"title": "t"}, 201, 201),
        ("GET", c, None, 200, 404),
        ("PATCH", c, {"title": "renamed by someone"}, 200, 404),
        ("GET", c + "/stream", None, 204, 404),
        ("POST", c + "/stop", None, 204, 404),
        ("POST", c + "/messages", {"content": "[[fake tokens=2 delay_ms=1]] hi"}, 200, 404),
        ("POST", c + "/regenerate", None, 200, 404),
        ("GET", "/api/account/sessions", None, 200, 200),
        ("DELETE", f"/api/account/sessions/{a_session}", None, None, 404),
        ("POST", "/api/account/password", {"current_password": "wrong-password-1", "new_password": "another-pass-2"},
         None, None),
        ("POST", "/api/account/delete", {"password": "wrong-password-1"}, None, None),
        ("GET", "/api/account/export", None, 200, 200),
        ("GET", f"/api/account/export/{cid}", None, 200, 404),
        ("POST", "/api/account/import", {"format": "chatbox", "conversations": []}, None, None),
        ("GET", "/api/admin/users", None, 403, 403),
        ("POST", "/api/admin/users", {"username": "made" + uuid.uuid4().hex[:6], "password": PASSWORD}, 403, 403),
        ("PATCH", f"/api/admin/users/{a_id}", {"disabled": True}, 403, 403),
        ("POST", f"/api/admin/users/{a_id}/password", {"password": "hijacked-pass-1"}, 403, 403),
        ("DELETE", f"/api/admin/users/{a_id}?confirm={a_name}", None, 403, 403),
        ("GET", "/api/admin/settings", None, 403, 403),
        ("PATCH", "/api/admin/settings", {"registration_open": False}, 403, 403),
        ("DELETE", c, None, 204, 404),
    ]


def call(base: str, method: str, path: str, body, headers: dict) -> httpx.Response:
    with client(base, headers=headers) as c:
        if path.endswith(("/messages", "/regenerate", "/stream")) and method in ("POST", "GET"):
            with c.stream(method, path, json=body) as r:
                r.read()
                return r
        return c.request(method, path, json=body)


def test_access_control_matrix(app):
    a_name = "alice" + uuid.uuid4().hex[:6]
    a_token, a_user = register(app.base, a_name)
    b_token, _ = register(app.base)
    with client(app.base, a_token) as a:
        cid = new_conversation(a, f"{SECRET} title")
        assert retry_race(a, cid, ask(a, cid, f"{SECRET} question [[fake tokens=3]]")).done["status"] == "completed"
    a_session = app.store.rows("SELECT MIN(id) AS id FROM sessions WHERE user_id = ?", a_user["id"])[0]["id"]
    who = identities(app, a_name, b_token, a_token)
    refused = ["no session", "unknown token", "overlong token", "expired session", "revoked session", "revoked cookie"]
    cases = 0
    for identity in refused + ["other user bearer", "other user cookie"]:
        for method, path, body, _owner, other in endpoints(cid, a_session, a_user["id"], a_name):
            r = call(app.base, method, path, body, who[identity])
            cases += 1
            if identity in refused:
                expected = {401}
            elif other is None:
                expected = {401, 403, 422, 400}   # acts on B's own account: must refuse B's wrong password
            else:
                expected = {other}
            assert r.status_code in expected, f"{identity}: {method} {path} → {r.status_code} {r.text[:200]}"
            assert r.status_code < 300 or r.headers["content-type"].startswith("application/json")
            if r.status_code >= 400:
                assert set(r.json()) == {"error"} and r.json()["error"]["message"]
    # nothing changed for A: title, messages, session, account
    with client(app.base, a_token) as a:
        shown = a.get(f"/api/conversations/{cid}")
        assert shown.status_code == 200, "A's conversation was deleted or A was signed out by someone else"
        assert shown.json()["conversation"]["title"] == f"{SECRET} title"
        assert [m["role"] for m in shown.json()["messages"]] == ["user", "assistant"]
        assert a.get("/api/auth/me").json()["user"]["username"] == a_name
    # the owner, by Bearer and by cookie
    for identity in ("owner bearer", "owner cookie"):
        with client(app.base, a_token) as a:
            cid = new_conversation(a, "owned")
        for method, path, body, owner, _other in endpoints(cid, a_session, a_user["id"], a_name):
            if owner is None:
                continue
            r = call(app.base, method, path.replace(f"/sessions/{a_session}", "/sessions/0"), body, who[identity])
            cases += 1
            assert r.status_code == owner, f"{identity}: {method} {path} → {r.status_code} {r.text[:200]}"
    # a Bearer token wins over a cookie: B's Bearer with A's cookie acts as B
    r = call(app.base, "GET", "/api/auth/me", None, {**who["other user bearer"], **who["owner cookie"]})
    assert r.json()["user"]["username"] != a_name
    FIGURES.add("access-control cases", cases + 1)


def test_sequential_ids_never_leak_another_users_conversations(app):
    a_token, _ = register(app.base)
    b_token, _ = register(app.base)
    with client(app.base, a_token) as a:
        ids = [new_conversation(a, f"{SECRET} {i}") for i in range(4)]
        retry_race(a, ids[0], ask(a, ids[0], f"{SECRET} body [[fake tokens=3]]"))
        before = {cid: a.get(f"/api/conversations/{cid}").json() for cid in ids}
    top = max(ids)
    with client(app.base, b_token) as b:
        mine = new_conversation(b, "b's own")
        reference = {}
        routes = [("GET", ""), ("PATCH", ""), ("DELETE", ""), ("POST", "/messages"), ("GET", "/stream"),
                  ("POST", "/stop"), ("POST", "/regenerate"), ("GET", "/api/account/export/")]

        def probe(method, suffix, cid):
            path = f"/api/account/export/{cid}" if suffix.startswith("/api") else f"/api/conversations/{cid}{suffix}"
            body = {"title": "x"} if method == "PATCH" else {"content": "x"} if suffix == "/messages" else None
            r = b.request(method, path, json=body)
            headers = {k: v for k, v in r.headers.items() if k.lower() not in ("date", "content-length")}
            return r.status_code, r.content, headers

        for method, suffix in routes:
            reference[(method, suffix)] = probe(method, suffix, top + 10_000)
            assert reference[(method, suffix)][0] == 404
        probes = 0
        for cid in range(1, top + 4):
            if cid == mine:
                continue
            for method, suffix in routes:
                got = probe(method, suffix, cid)
                probes += 1
                assert got == reference[(method, suffix)], (
                    f"{method} {suffix} on conversation {cid} differs from a nonexistent one: {got[:2]}")
        listed = b.get("/api/conversations", params={"q": SECRET, "limit": 200}).json()["conversations"]
        assert listed == [], "search shows another user's conversations"
        everything = b.get("/api/account/export").text
        assert SECRET not in everything, "the export holds another user's data"
        FIGURES.add("cross-user id probes", probes)
    with client(app.base, a_token) as a:
        assert {cid: a.get(f"/api/conversations/{cid}").json() for cid in ids} == before, "A's data changed"


def test_revoking_sessions_is_per_user(app):
    a_name = "sess" + uuid.uuid4().hex[:6]
    a_token, a_user = register(app.base, a_name)
    b_token, _ = register(app.base)
    with client(app.base, b_token) as b:
        sessions = app.store.rows("SELECT id FROM sessions WHERE user_id = ?", a_user["id"])
        for row in sessions:
            assert b.delete(f"/api/account/sessions/{row['id']}").status_code == 404
        assert all(s["current"] is not None for s in b.get("/api/account/sessions").json()["sessions"])
        assert len(b.get("/api/account/sessions").json()["sessions"]) == 1, "B sees sessions that are not B's"
    with client(app.base, a_token) as a:
        assert a.get("/api/auth/me").status_code == 200, "B signed A out"
    # and the owner can revoke their own other session, which then stops working
    second = login(app.base, a_name)
    with client(app.base, a_token) as a:
        others = [s for s in a.get("/api/account/sessions").json()["sessions"] if not s["current"]]
        assert others
        for s in others:
            assert a.delete(f"/api/account/sessions/{s['id']}").status_code == 204
    with client(app.base, second) as c:
        assert c.get("/api/auth/me").status_code == 401
