"""Response headers on every kind of response (the page, static files, JSON, errors, streams, 404s): a
Content-Security-Policy that forbids inline script, X-Content-Type-Options: nosniff, Referrer-Policy, frame denial
(X-Frame-Options and frame-ancestors), no-store on API answers; the session cookie's flags. That the browser
really runs no injected script is the browser suite's job (e2e/test_security.py)."""
from __future__ import annotations

import re

from helpers import FIGURES, PASSWORD, client, new_conversation, register


QUICK_BACKENDS = ["sqlite"]   # --quick: the middleware under test does not depend on the database


def csp_directives(value: str) -> dict[str, list[str]]:
    out = {}
    for part in value.split(";"):
        words = part.split()
        if words:
            out[words[0].lower()] = words[1:]
    return out


def check_headers(r, what: str):
    FIGURES.add("responses checked for security headers")
    h = r.headers
    assert h.get("x-content-type-options") == "nosniff", what
    assert h.get("referrer-policy") in ("no-referrer", "same-origin", "strict-origin-when-cross-origin"), what
    assert h.get("x-frame-options", "").upper() == "DENY", what
    csp = csp_directives(h.get("content-security-policy", ""))
    script = csp.get("script-src", csp.get("default-src"))
    assert script is not None, f"{what}: no script-src: {h.get('content-security-policy')}"
    assert "'unsafe-inline'" not in script, f"{what}: inline script allowed"
    assert "*" not in script and "data:" not in script and "http:" not in script, f"{what}: {script}"
    assert csp.get("frame-ancestors") == ["'none'"], what
    assert csp.get("object-src") == ["'none'"], what
    assert csp.get("base-uri") in (["'none'"], ["'self'"]), what
    if "/api/" in what:
        assert "no-store" in h.get("cache-control", "") or "no-cache" in h.get("cache-control", ""), what


def test_security_headers_everywhere(app):
    token, _ = register(app.base)
    with client(app.base) as anonymous, client(app.base, token) as c:
        cid = new_conversation(c)
        responses = {
            "GET /": anonymous.get("/"),
            "GET /index.html": anonymous.get("/index.html"),
            "GET /c/123 (app route)": anonymous.get("/c/123"),
            "GET /missing.js": anonymous.get("/missing.js"),
            "GET /healthz": anonymous.get("/healthz"),
            "GET /api/config": anonymous.get("/api/config"),
            "GET /api/auth/me 401": anonymous.get("/api/auth/me"),
            "POST /api/auth/login 401": anonymous.post("/api/auth/login", json={"username": "x", "password": "y"}),
            "POST /api/conversations 400": c.post("/api/conversations", content=b"{",
                                                  headers={"Content-Type": "application/json"}),
            "GET /api/conversations": c.get("/api/conversations"),
            "GET /api/conversations/{id} 404": c.get("/api/conversations/999999"),
            "GET /api/nowhere 404": c.get("/api/nowhere"),
            "PUT /api/conversations 405/404": c.put("/api/conversations", json={}),
            "GET /api/account/export": c.get("/api/account/export"),
            "GET /api/conversations/{id}/stream 204": c.get(f"/api/conversations/{cid}/stream"),
        }
        with c.stream("POST", f"/api/conversations/{cid}/messages", json={"content": "[[fake tokens=2]]"}) as r:
            r.read()
            responses["POST …/messages (SSE)"] = r
        for what, r in responses.items():
            assert r.status_code < 500, what
            check_headers(r, what)
        sse = responses["POST …/messages (SSE)"]
        assert sse.headers["content-type"].startswith("text/event-stream")
        assert sse.headers.get("x-accel-buffering") == "no"
        page_csp = csp_directives(responses["GET /"].headers["content-security-policy"])
        FIGURES.note("CSP script-src: " + " ".join(page_csp["script-src"]))
        assert responses["GET /"].headers["content-type"].startswith("text/html")
        js = re.findall(r'src="(/[^"]+\.js)"', responses["GET /"].text)
        for path in js[:3]:
            r = anonymous.get(path)
            if r.status_code == 200:
                check_headers(r, f"GET {path}")
                assert "javascript" in r.headers["content-type"]


def test_session_cookie_flags(app):
    with client(app.base) as c:
        name = "cookie" + app.backend
        r = c.post("/api/auth/register", json={"username": name, "password": PASSWORD})
        assert r.status_code == 201
        for r in (r, c.post("/api/auth/login", json={"username": name, "password": PASSWORD})):
            cookie = r.headers["set-cookie"]
            assert cookie.startswith("chatbox_session=")
            flags = [p.strip().lower() for p in cookie.split(";")[1:]]
            assert "httponly" in flags and "samesite=lax" in flags and "path=/" in flags, cookie
            max_age = [int(p.split("=")[1]) for p in flags if p.startswith("max-age=")]
            assert max_age and 0 < max_age[0] <= 720 * 3600, cookie
        r = c.post("/api/auth/logout", headers={"Cookie": f"chatbox_session={r.json()['token']}"})
        assert "max-age=0" in r.headers["set-cookie"].lower()
