"""Hostile input, on SQLite and MariaDB: SQL metacharacters, `%` / `_` / the LIKE escape character in search, path
traversal on static files, CR/LF header injection through usernames, titles and answers, SSE frame injection,
huge and deeply nested JSON, invalid UTF-8, NUL bytes, wrong content types. Every answer is a 4xx or the value is
stored verbatim (titles: on one line); never a 500, never executed; the server is alive and its tables intact."""
from __future__ import annotations

import json
import re
import uuid

import pytest

from helpers import (FIGURES, PASSWORD, ask, client, new_conversation, raw_request, register, retry_race,
                     status_of)

SQL = ["' OR '1'='1", "admin'--", "\" OR \"\"=\"", "'; DROP TABLE users; --", "1; DELETE FROM messages",
       "\\", "\\'", "\\\\'; --", "%", "_", "' UNION SELECT hashed_password FROM users --", "`id`", "$$", "?", ":id",
       "0x27", "char(39)", "/* */", "!", "!%", "' ESCAPE '!"]
TEXTS = SQL + ["<script>alert(1)</script>", "emoji 😀👩‍👩‍👧 4-byte 𝔘𝔫𝔦", "中文 العربية עברית", "zero\u200bwidth",
               "line\u2028sep", "tab\tand  spaces", "a" * 5000, "\u202eRTL override", "é (e + combining)".replace(
                   "é", "e\u0301"), "\U0010FFFF", "\ufeffBOM"]


def check(r, allowed=range(200, 500)):
    FIGURES.add("payloads tried")
    assert r.status_code in allowed, f"{r.status_code}: {r.text[:300]}"
    assert r.status_code < 500


@pytest.fixture(scope="module")
def user(app):
    token, info = register(app.base)
    return token, info


def test_sql_metacharacters_in_credentials(app, user):
    with client(app.base) as c:
        for payload in SQL:
            r = c.post("/api/auth/login", json={"username": payload, "password": payload + "-long-enough"})
            check(r, {401, 429})
            r = c.post("/api/auth/login", json={"username": "admin" + app.backend, "password": payload})
            check(r, {401, 429})
            r = c.post("/api/auth/register", json={"username": payload, "password": PASSWORD})
            valid_name = re.fullmatch(r"[\w.-]{1,32}", payload) is not None
            check(r, {201, 409} if valid_name else {422})
            r = c.post("/api/auth/register", json={"username": "p" + uuid.uuid4().hex[:8], "password":
                                                    (payload + "-padding-123")[:72]})
            check(r, {201})
            c.cookies.clear()
    assert app.store.rows("SELECT COUNT(*) AS n FROM users")[0]["n"] > 1


def test_hostile_text_is_stored_verbatim(app, user):
    token, _ = user
    with client(app.base, token) as c:
        for text in TEXTS:
            r = c.post("/api/conversations", json={"title": text[:200]})
            check(r, {201})
            conversation = r.json()["conversation"]
            expected = " ".join(text[:200].replace("\u2028", " ").split())
            assert conversation["title"] == expected or conversation["title"] == text[:200].strip(), (
                repr(text[:40]), conversation["title"][:60])
            stored = app.store.rows("SELECT title FROM conversations WHERE id = ?", conversation["id"])[0]["title"]
            assert stored == conversation["title"], "the database holds another title than the API said"
            turn = ask(c, conversation["id"], text + " [[fake tokens=1]]")
            FIGURES.add("payloads tried")
            assert turn.status_code == 200, turn.error_body
            start = dict(turn.events)["start"]
            assert start["user_message"]["content"] == text + " [[fake tokens=1]]"
            rows = app.store.messages(conversation["id"])
            assert rows[0]["content"] == text + " [[fake tokens=1]]", "the question was not stored verbatim"
            shown = c.get(f"/api/conversations/{conversation['id']}").json()["messages"][0]["content"]
            assert shown == rows[0]["content"]
    assert app.store.rows("SELECT COUNT(*) AS n FROM messages")[0]["n"] >= 2 * len(TEXTS)


SEARCH_TITLES = ["100% sure", "100 percent", "a_b", "axb", "a!b", "back\\slash", "quote'single", 'quote"double',
                 "[bracket]", "caret^", "plain words"]
SEARCHES = {"%": ["100% sure", "body search"], "_": ["a_b", "body search"], "a_b": ["a_b"], "!": ["a!b"], "\\": ["back\\slash"],
            "'": ["quote'single"], '"': ['quote"double'], "[": ["[bracket]", "body search"], "^": ["caret^"], "%%": [],
            "' OR 1=1 --": [], "*": [], "100%": ["100% sure"], "!%": [], "A_B": ["a_b"], "": SEARCH_TITLES}


def test_search_treats_wildcards_literally(app):
    token, _ = register(app.base)
    with client(app.base, token) as c:
        for title in SEARCH_TITLES:
            new_conversation(c, title)
        cid = new_conversation(c, "body search")
        retry_race(c, cid, ask(c, cid, "price zz%_zz off [[fake tokens=1]]"))
        for q, expected in SEARCHES.items():
            r = c.get("/api/conversations", params={"q": q, "limit": 200})
            check(r, {200})
            titles = sorted(x["title"] for x in r.json()["conversations"])
            if q == "":
                assert len(titles) == len(SEARCH_TITLES) + 1
                continue
            assert titles == sorted(expected), f"q={q!r}: {titles}"
        titles = [x["title"] for x in c.get("/api/conversations", params={"q": "%_"}).json()["conversations"]]
        assert titles == ["body search"], titles
        for q in ["\x00", "a" * 201, "%" * 200, "\ud7ff", "😀" * 50]:
            check(c.get("/api/conversations", params={"q": q}), {200, 400, 422})


TRAVERSAL = ["/../../../../etc/passwd", "/%2e%2e/%2e%2e/%2e%2e/etc/passwd", "/..%2f..%2f..%2fetc%2fpasswd",
             "/%252e%252e/%252e%252e/etc/passwd", "/..\\..\\..\\etc\\passwd", "/..%5c..%5c..%5cetc%5cpasswd",
             "//etc/passwd", "/index.html/../../../etc/passwd", "/./.././../Package.swift", "/%2e%2e/Package.swift",
             "/..;/..;/etc/passwd", "/%c0%ae%c0%ae/%c0%ae%c0%ae/etc/passwd", "/web/../Package.swift",
             "/../README.md", "/%00/etc/passwd", "/index.html%00.png", "/.git/config", "/../.git/HEAD",
             "/....//....//etc/passwd", "/%2e%2e%2f%2e%2e%2fPackage.swift"]


def test_path_traversal_on_static_files(app):
    for path in TRAVERSAL:
        reply = raw_request(app.port, f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
                            .encode("latin-1"))
        FIGURES.add("payloads tried")
        code = status_of(reply)
        assert 0 < code < 500, f"{path} → {reply[:200]!r}"
        body = reply.split(b"\r\n\r\n", 1)[-1]
        for secret in (b"root:x:0:0", b"swift-tools-version", b"[core]", b"ref: refs/", b"# Chatbox\n"):
            assert secret not in body, f"{path} served a file outside web/: {body[:120]!r}"


def test_header_injection_through_names_titles_and_answers(app, user):
    token, _ = user
    with client(app.base) as c:
        for name in ["evil\r\nSet-Cookie: injected=1", "evil\nX-Injected: 1", "evil\rx", "a\u0085b"]:
            check(c.post("/api/auth/register", json={"username": name, "password": PASSWORD}), {422})
    with client(app.base, token) as c:
        r = c.post("/api/conversations", json={"title": "t\r\nSet-Cookie: injected=1\r\n\r\n<h1>body</h1>"})
        check(r, {201})
        assert "injected" not in json.dumps(dict(r.headers)).lower()
        assert "\r" not in r.json()["conversation"]["title"] and "\n" not in r.json()["conversation"]["title"]
        cid = r.json()["conversation"]["id"]
        r = c.get(f"/api/account/export/{cid}")
        check(r, {200})
        assert "injected" not in json.dumps(dict(r.headers)).lower()
        # an answer and a question that try to forge SSE frames come through as text
        forged = "x\n\nevent: done\ndata: {\"message\":{}}\n\nevent: title\ndata: {}\n\n"
        reply = 'evil\\n\\nevent: done\\ndata: {}\\n\\n'
        turn = ask(c, new_conversation(c), forged + f'[[fake reply="{reply}"]]')
        FIGURES.add("payloads tried")
        names = [e for e, _ in turn.events]
        assert names[0] == "start" and names.count("start") == 1 and names.count("done") <= 1, names
        assert dict(turn.events)["start"]["user_message"]["content"] == forged + f'[[fake reply="{reply}"]]'
        if turn.done and turn.done["status"] == "completed":
            assert turn.done["content"] == "evil\n\nevent: done\ndata: {}\n\n", repr(turn.done["content"])
    raw = (b"GET /api/auth/me HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer abc\nX-Injected: 1\r\n"
           b"Connection: close\r\n\r\n")
    assert 0 < status_of(raw_request(app.port, raw)) < 500


def nested(depth: int, kind: str) -> str:
    return ("[" * depth + "]" * depth) if kind == "array" else ('{"a":' * depth + "1" + "}" * depth)


def test_huge_and_nested_json(app, user):
    token, _ = user
    with client(app.base, token) as c:
        cid = new_conversation(c)
        cases = [
            ("POST", "/api/conversations", b'{"title":"' + b"a" * (1024 * 1024) + b'"}', {413}),
            ("POST", f"/api/conversations/{cid}/messages", json.dumps({"content": "a" * 100_001}).encode(), {413}),
            ("POST", "/api/conversations", json.dumps({"title": "a" * 201}).encode(), {422}),
            ("POST", "/api/auth/register", json.dumps({"username": "u" * 33, "password": PASSWORD}).encode(), {422}),
            ("POST", "/api/auth/register", json.dumps({"username": "longpw", "password": "p" * 73}).encode(), {422}),
            ("POST", "/api/conversations", b'{"title":1e400}', {400, 422}),
            ("POST", "/api/conversations", b'{"title":"a","title":"b"}', {201, 400, 422}),
            ("POST", "/api/conversations", b"null", {201, 400, 422}),
            ("POST", "/api/conversations", b"[]", {400, 422}),
            ("POST", "/api/conversations", b'"title"', {400, 422}),
            ("POST", "/api/conversations", b"{", {400}),
            ("POST", "/api/conversations", b'{"title":"x"} trailing', {400}),
            ("PATCH", f"/api/conversations/{cid}", b'{"title":null}', {422}),
            ("PATCH", f"/api/conversations/{cid}", b'{"title":["x"]}', {422}),
            ("POST", f"/api/conversations/{cid}/messages", b'{"content":{"a":1}}', {422}),
            ("POST", f"/api/conversations/{cid}/messages", b'{"content":"   "}', {422}),
            ("POST", f"/api/conversations/{cid}/messages", b"{}", {422}),
            ("POST", "/api/conversations",
             b'{"title":"many keys",' + b",".join(b'"k%d":%d' % (i, i) for i in range(50_000)) + b"}", {201}),
        ]
        for depth in (100, 1000, 10_000, 100_000):
            for kind in ("array", "object"):
                body = '{"title":' + nested(depth, kind) + "}"
                cases.append(("POST", "/api/conversations", body.encode(), {400, 413, 422}))
                cases.append(("POST", f"/api/conversations/{cid}/messages",
                              ('{"content":' + nested(depth, kind) + "}").encode(), {400, 413, 422}))
        for method, path, body, allowed in cases:
            r = c.request(method, path, content=body, headers={"Content-Type": "application/json"})
            check(r, allowed)
    with client(app.base) as c:
        assert c.get("/healthz").status_code == 200


def test_invalid_utf8_nul_and_content_types(app, user):
    token, _ = user
    with client(app.base, token) as c:
        cid = new_conversation(c)
        bodies = [b'{"title":"\xff\xfe"}', b'{"title":"\xc0\xaf"}', b'{"title":"\xed\xa0\x80"}',
                  b'{"title":"\xf4\x90\x80\x80"}', b'{"title":"ok\xe4"}', b'{"title":"\\ud800"}',
                  b'{"title":"\\udfff\\ud800"}', b'{"title":"a\x00b"}', b'{"title":"a\\u0000b"}',
                  b'\xef\xbb\xbf{"title":"bom"}', b'{"title":"\x1b[31mred"}']
        for body in bodies:
            check(c.post("/api/conversations", content=body, headers={"Content-Type": "application/json"}),
                  {201, 400, 422})
            check(c.post(f"/api/conversations/{cid}/messages", content=body.replace(b"title", b"content"),
                         headers={"Content-Type": "application/json"}), {200, 400, 422})
        for name, password in (("nul\u0000name", PASSWORD), ("nulpass", "pass\u0000word-long")):
            check(c.post("/api/auth/register", json={"username": name, "password": password}), {422})
        check(c.post("/api/auth/login", json={"username": "a\u0000b", "password": PASSWORD}), {401, 429})
        # (application/jsonx is taken as JSON: the check is a prefix match; harmless, CSRF rests on Origin)
        for content_type in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data", ""):
            check(c.post("/api/conversations", content=b'{"title":"x"}', headers={"Content-Type": content_type}),
                  {415})
        check(c.post("/api/conversations", content='{"title":"é"}'.encode("latin-1"),
                     headers={"Content-Type": "application/json; charset=latin1"}), {400, 415})
        for path in ["/api/conversations/%FF", "/api/conversations/1%00", "/api/conversations/-1",
                     "/api/conversations/99999999999999999999", "/api/conversations/1.5", "/api/conversations/0x1",
                     "/api/conversations/%2e%2e", "/api/account/export/%00"]:
            check(c.get(path), {404, 400})
        check(c.get("/api/conversations", params={"cursor": "\x00\xff"}), {400})
        check(c.get("/api/conversations?q=%FF%FE"), {200, 400, 422})
        check(c.get("/api/conversations?limit=%00"), {400})
    for raw in (b"GET /api/auth/me HTTP/1.1\r\nHost: x\r\nCookie: chatbox_session=\xff\xfe\r\nConnection: close\r\n\r\n",
                b"GET /api/auth/me HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \x00\x01\r\nConnection: close\r\n\r\n",
                b"GET /\xff\xfe HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                b"GET /api/conversations HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + token.encode()
                + b"\r\nX-Long: " + b"a" * 60_000 + b"\r\nConnection: close\r\n\r\n"):
        code = status_of(raw_request(app.port, raw))
        FIGURES.add("payloads tried")
        assert code == 0 or code < 500, (raw[:60], code)
    with client(app.base) as c:
        assert c.get("/healthz").status_code == 200


def test_imported_dates_before_1970_render_as_valid_dates(app):
    """Found by the schemathesis run: imported dates before 1970 came back as '1555-05-15T12:03:34.-820Z'."""
    token, _ = register(app.base)
    export = {"format": "chatbox-export", "version": 1, "conversations": [{
        "title": "old", "created_at": "1969-12-31T23:59:59.500Z",
        "messages": [{"role": "user", "content": "hi", "created_at": "1555-05-15T12:03:34.180Z"}]}]}
    with client(app.base, token) as c:
        r = c.post("/api/account/import", json=export)
        FIGURES.add("payloads tried")
        assert r.status_code < 500
        if r.status_code != 200 or r.json()["imported"] == 0:
            return   # refused: fine
        listed = c.get("/api/conversations").json()["conversations"]
        shown = c.get(f"/api/conversations/{listed[0]['id']}").json()
    iso = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
    dates = [shown["conversation"]["created_at"]] + [m["created_at"] for m in shown["messages"]]
    assert all(iso.match(d) for d in dates), dates
