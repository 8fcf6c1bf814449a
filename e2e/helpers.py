"""Small actions and waits shared by the browser tests."""
from __future__ import annotations

import json
import time

from conftest import SHOTS

ASSISTANT = ".msg-assistant"
USER_MSG = ".msg-user"


def send(page, text: str):
    box = page.get_by_test_id("composer")
    box.fill(text)
    box.press("Enter")


def last_answer(page):
    return page.locator(ASSISTANT).last


def wait_answer_status(page, status: str | tuple = ("completed", "failed", "stopped"), timeout=20000):
    """Waits until the last message is an assistant answer in one of these states."""
    statuses = (status,) if isinstance(status, str) else status
    page.wait_for_function(
        """(statuses) => { const a = [...document.querySelectorAll('.msg')].at(-1);
             return a && a.classList.contains('msg-assistant') && statuses.includes(a.dataset.status) }""",
        arg=list(statuses), timeout=timeout, polling=100)


def answer_text(page) -> str:
    """The last answer as shown (its Markdown, error, note), without its thinking block and the model line under it."""
    return last_answer(page).locator(".msg-body").evaluate(
        "el => [...el.children].filter(c => !c.matches('.msg-foot, .thinking-block')).map(c => c.innerText).join('\\n')")


def current_conversation_id(page) -> str:
    path = page.evaluate("location.pathname")
    assert path.startswith("/c/"), path
    return path[3:]


def sidebar_titles(page) -> list[str]:
    return [t.strip() for t in page.locator(".conv-link").all_inner_texts()]


def shot(page, name: str):
    page.wait_for_timeout(150)  # let transitions settle
    page.screenshot(path=str(SHOTS / f"{name}.png"))


def api_json(ctx, method: str, path: str, data=None):
    r = ctx.request.fetch(path, method=method, data=json.dumps(data) if data is not None else None,
                          headers={"Content-Type": "application/json"} if data is not None else None)
    assert r.ok, f"{method} {path}: {r.status} {r.text()}"
    return r.json() if r.status != 204 and r.text() else None


def api_conversation(ctx, title: str | None = None) -> dict:
    return api_json(ctx, "POST", "/api/conversations", {"title": title} if title else {})["conversation"]


def api_turn(ctx, conv_id, content: str) -> str:
    """One full turn through the API (reads the whole SSE body). Returns the raw event stream."""
    r = ctx.request.post(f"/api/conversations/{conv_id}/messages", data={"content": content}, timeout=30000)
    assert r.ok, f"send: {r.status} {r.text()}"
    return r.text()


def sample_lengths(page, selector: str, until_status=("completed", "failed", "stopped"), every_ms=40, max_s=20):
    """Samples the text length of `selector` over time, until the last answer ends."""
    samples = []
    deadline = time.time() + max_s
    while time.time() < deadline:
        state = page.evaluate(
            """(sel) => { const el = document.querySelector(sel); const a = [...document.querySelectorAll('.msg')].at(-1);
                 return [el ? el.textContent.length : 0, a ? a.dataset.status : null] }""", selector)
        samples.append(state[0])
        if state[1] in until_status:
            break
        page.wait_for_timeout(every_ms)
    return samples
