"""Cross-site request forgery: every state-changing endpoint, called with a valid session cookie from a foreign
Origin, with `Origin: null`, and with `Sec-Fetch-Site: cross-site` / `same-site` → 403, and nothing happens
(checked: the conversation is not created, renamed, deleted or answered, the session is not revoked, the account
and the settings are unchanged). The same requests from the server's own origin go through."""
from __future__ import annotations

import uuid

from helpers import FIGURES, PASSWORD, client, new_conversation, register



QUICK_BACKENDS = ["sqlite"]   # --quick: the middleware under test does not depend on the database


def state_changing(cid: int, session_id: int, user_id: int, name: str):
    c = f"/api/conversations/{cid}"
    return [
        ("POST", "/api/auth/register", {"username": "csrf" + uuid.uuid4().hex[:6], "password": PASSWORD}),
        ("POST", "/api/auth/login", {"username": name, "password": PASSWORD}),
        ("POST", "/api/auth/logout", None),
        ("POST", "/api/conversations", {"title": "forged"}),
        ("PATCH", c, {"title": "forged"}),
        ("POST", c + "/messages", {"content": "forged [[fake tokens=2]]"}),
        ("POST", c + "/stop", None),
        ("POST", c + "/regenerate", None),
        ("DELETE", c, None),
        ("DELETE", f"/api/account/sessions/{session_id}", None),
        ("POST", "/api/account/password", {"current_password": PASSWORD, "new_password": "forged-password-1"}),
        ("POST", "/api/account/delete", {"password": PASSWORD}),
        ("POST", "/api/account/import", {"format": "chatbox", "conversations": []}),
        ("POST", "/api/admin/users", {"username": "forged" + uuid.uuid4().hex[:6], "password": PASSWORD}),
        ("PATCH", f"/api/admin/users/{user_id}", {"disabled": True}),
        ("POST", f"/api/admin/users/{user_id}/password", {"password": "forged-password-2"}),
        ("DELETE", f"/api/admin/users/{user_id}?confirm={name}", None),
        ("PATCH", "/api/admin/settings", {"registration_open": False}),
    ]


FOREIGN = [
    {"Origin": "http://evil.example"},
    {"Origin": "null"},
    {"Origin": "http://127.0.0.1.evil.example"},
    {"Sec-Fetch-Site": "cross-site"},
    {"Sec-Fetch-Site": "same-site"},
    {"Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site"},
]


def test_forged_requests_are_refused_and_change_nothing(app):
    # the victim is an admin, so that the admin endpoints are reachable for a forged request too
    name = "admin" + app.backend
    token = app.admin_token
    victim = app.store.rows("SELECT id FROM users WHERE username = ?", name)[0]["id"]
    target = register(app.base)[1]
    with client(app.base, token) as c:
        cid = new_conversation(c, "victim's")
        conversations_before = c.get("/api/conversations", params={"limit": 200}).json()
        settings_before = c.get("/api/admin/settings").json()
    users_before = app.store.rows("SELECT id, username, role, disabled, hashed_password FROM users ORDER BY id")
    session = app.store.rows("SELECT MIN(id) AS id FROM sessions WHERE user_id = ?", victim)[0]["id"]
    tried = 0
    with client(app.base) as c:
        for headers in FOREIGN:
            for method, path, body in state_changing(cid, session, target["id"], target["username"]):
                r = c.request(method, path, json=body, headers={**headers, "Cookie": f"chatbox_session={token}"})
                c.cookies.clear()
                tried += 1
                assert r.status_code == 403, f"{headers} {method} {path} → {r.status_code} {r.text[:200]}"
                assert "not allowed" in r.json()["error"]["message"]
    FIGURES.add("CSRF requests refused", tried)
    with client(app.base, token) as c:
        assert c.get("/api/auth/me").status_code == 200, "a forged logout signed the victim out"
        assert c.get("/api/conversations", params={"limit": 200}).json() == conversations_before
        assert c.get(f"/api/conversations/{cid}").json()["messages"] == []
        assert c.get("/api/admin/settings").json() == settings_before
    assert app.store.rows("SELECT id, username, role, disabled, hashed_password FROM users ORDER BY id") == users_before


def test_same_origin_requests_go_through(app):
    token, _ = register(app.base)
    own = [{"Origin": app.base}, {"Sec-Fetch-Site": "same-origin"}, {"Sec-Fetch-Site": "none"},
           {"Origin": app.base, "Sec-Fetch-Site": "same-origin"}, {}]
    with client(app.base) as c:
        for headers in own:
            r = c.post("/api/conversations", json={"title": "mine"},
                       headers={**headers, "Cookie": f"chatbox_session={token}"})
            assert r.status_code == 201, f"{headers} → {r.status_code} {r.text}"
            cid = r.json()["conversation"]["id"]
            r = c.patch(f"/api/conversations/{cid}", json={"title": "renamed"},
                        headers={**headers, "Cookie": f"chatbox_session={token}"})
            assert r.status_code == 200


def test_reads_are_not_blocked_but_reveal_nothing_cross_site(app):
    """GETs are allowed from anywhere (the cookie is SameSite=Lax), and carry no CORS grant: no
    Access-Control-Allow-Origin, so a foreign page cannot read the answer."""
    with client(app.base) as c:
        r = c.get("/api/auth/me", headers={"Origin": "http://evil.example",
                                           "Cookie": f"chatbox_session={app.admin_token}"})
        assert r.status_code == 200
        assert "access-control-allow-origin" not in r.headers
        r = c.options("/api/conversations", headers={"Origin": "http://evil.example",
                                                     "Access-Control-Request-Method": "POST"})
        assert "access-control-allow-origin" not in r.headers
        assert r.status_code < 500
