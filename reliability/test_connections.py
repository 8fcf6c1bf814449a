"""Model connections against the real server, on SQLite and MariaDB: an admin's API keys are write-only (no response
carries them), never reach the log even at trace level, and are redacted from a provider's error that repeats them;
a provider that cannot be reached shows as the connection's error and costs nobody else their answer; a reasoning
model's thinking is streamed before the answer and stored apart."""
from __future__ import annotations

import json

from helpers import Chatbox, Store, ask, client, new_database, register

KEY = "sk-connection-secret-0123456789"
OTHER_KEY = "sk-unreachable-secret-9876543210"


def test_api_keys_are_write_only_and_never_logged(backend, mariadb, tmp, fake):
    url = new_database(backend, mariadb, tmp)
    server = Chatbox(f"connections-{backend}", url, fake.url, env={"CHATBOX_LOG_LEVEL": "trace"})
    try:
        admin, _ = register(server.base)
        user, _ = register(server.base)
        with client(server.base, admin) as c, client(server.base, user) as u:
            created = c.post("/api/admin/connections", json={
                "name": "Second", "kind": "openai_compatible", "base_url": fake.url, "api_key": KEY})
            assert created.status_code == 201, created.text
            unreachable = c.post("/api/admin/connections", json={
                "name": "Nowhere", "kind": "openai_compatible", "base_url": "http://127.0.0.1:1/v1",
                "api_key": OTHER_KEY, "models": ["typed-by-hand"]})
            assert unreachable.status_code == 201, unreachable.text
            refreshed = c.post(f"/api/admin/connections/{unreachable.json()['id']}/refresh")
            assert refreshed.status_code == 200 and refreshed.json()["error"], refreshed.text
            assert refreshed.json()["models"] == ["typed-by-hand"], "a failed listing keeps the manual ids"
            assert created.json()["api_key_set"] is True

            models = u.get("/api/models").json()["models"]
            second = next(m["id"] for m in models if m["connection"] == "Second")
            assert second == "Second/fake", models  # the start-up connection already offers "fake"

            cid = u.post("/api/conversations", json={"model": second}).json()["conversation"]["id"]
            echoed = ask(u, cid, f'[[fake status=401 message="Incorrect API key provided: {KEY}"]]')
            assert echoed.done["status"] == "failed"
            assert echoed.done["error"].endswith("Incorrect API key provided: [redacted]"), echoed.done["error"]
            thinking = ask(u, cid, "[[fake tokens=3 reasoning_content=3]] think")
            names = [event for event, _ in thinking.events]
            assert names.index("reasoning") < names.index("delta"), names
            assert thinking.done["model"] == second and thinking.done["reasoning"].startswith("thought1")
            stored = Store(url).messages(cid)[-1]
            assert stored["reasoning"].startswith("thought1") and stored["content"] == thinking.done["content"]

            renamed = c.patch(f"/api/admin/connections/{created.json()['id']}", json={"name": "Renamed"})
            assert renamed.status_code == 200, renamed.text
            replies = [created, unreachable, refreshed, renamed, c.get("/api/admin/connections"),
                       c.get("/api/admin/models"), u.get("/api/models")]
            for reply in replies:
                assert KEY not in reply.text and OTHER_KEY not in reply.text and "api_key\"" not in reply.text
            assert "api_key" not in json.dumps(c.get("/api/admin/connections").json()).replace("api_key_set", "")
        log = server.log_text()
        assert "debug" in log, "the server logged nothing at trace level?"
        # KEY is in the user's own question above (the fake repeats it as its error): only those lines may hold it.
        leaks = [line for line in log.splitlines()
                 if OTHER_KEY in line or (KEY in line and "Incorrect API key provided" not in line)]
        assert not leaks, f"an API key reached the log: {leaks[:3]}"
    finally:
        server.stop()
