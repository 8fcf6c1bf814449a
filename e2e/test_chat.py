"""Sending, streaming, Markdown, title, stop, regenerate, retry, resume after a reload, continuing old chats, IME."""
import re

import pytest

from conftest import PASSWORD, free_port, make_context, register, start_chatbox, start_fake_upstream
from helpers import (answer_text, api_conversation, api_json, api_turn, current_conversation_id, last_answer, sample_lengths,
                     send, shot, sidebar_titles, wait_answer_status)


def test_first_message_creates_the_chat_and_the_answer_arrives_in_pieces(logged_in):
    page = logged_in
    send(page, "[[fake tokens=60 delay_ms=40]] count for me")
    page.wait_for_url(re.compile(r"/c/\w+"))
    assert page.locator(".msg-user .bubble").inner_text() == "[[fake tokens=60 delay_ms=40]] count for me"
    page.locator(".md.streaming").wait_for()  # live, with the cursor
    lengths = sample_lengths(page, ".msg-assistant:last-child .msg-body")
    grew = [b for a, b in zip(lengths, lengths[1:]) if b > a]
    assert len(grew) >= 5, f"the answer did not arrive in pieces: {lengths}"
    wait_answer_status(page, "completed")
    assert answer_text(page).strip().endswith("word60")
    assert page.locator(".md.streaming").count() == 0
    assert page.get_by_test_id("send").is_visible()


def test_the_answer_shows_a_table_highlighted_code_with_copy_and_math(context, logged_in):
    page = logged_in
    context.grant_permissions(["clipboard-read", "clipboard-write"])
    send(page, "Show me something rich")
    wait_answer_status(page, "completed")
    answer = last_answer(page)
    table = answer.locator("table")
    assert table.locator("th").all_inner_texts() == ["Item", "Value"]
    assert table.locator("tbody tr").count() == 2
    code = answer.locator(".code-block")
    assert code.locator(".code-lang").inner_text() == "python"
    page.wait_for_function("document.querySelector('.msg-assistant .code-block code .hljs-keyword') !== null")
    assert "def square(x):" in code.locator("pre code").inner_text()
    page.wait_for_function("document.querySelectorAll('.msg-assistant .katex').length >= 2")
    assert answer.locator(".katex annotation").first.text_content() in ("x", "x^2")
    assert answer.locator(".katex-mathml math").count() >= 2  # MathML kept by the sanitiser (accessibility)
    copy = code.get_by_role("button", name="Copy code")
    copy.click()
    page.wait_for_function("document.querySelector('.code-copy').textContent === 'Copied'")
    clip = page.evaluate("navigator.clipboard.readText()")
    assert clip.strip() == "def square(x):\n    return x * x"
    answer.get_by_test_id("copy-message").click()  # the whole answer, as Markdown
    page.wait_for_function("navigator.clipboard.readText().then(t => t.startsWith('Fake upstream reply to:'))")
    assert "| alpha | 1 |" in page.evaluate("navigator.clipboard.readText()")
    shot(page, "03-answer-table-code-math")


def test_the_title_appears_in_the_sidebar_when_the_server_sends_it(logged_in):
    page = logged_in
    send(page, '[[fake title_reply="Tidal pools of Brittany"]] tell me about tide pools')
    wait_answer_status(page, "completed")
    conv_id = current_conversation_id(page)
    item = page.locator(f'.conv-item[data-id="{conv_id}"] .conv-link')
    page.wait_for_function(
        "(id) => document.querySelector(`.conv-item[data-id='${id}'] .conv-link`)?.textContent.trim() === 'Tidal pools of Brittany'",
        arg=conv_id)
    assert item.inner_text() == "Tidal pools of Brittany"
    assert page.locator(".chat-title").inner_text() == "Tidal pools of Brittany"
    assert page.title().startswith("Tidal pools of Brittany")


def test_stop_ends_the_answer_and_keeps_the_partial_text(context, logged_in):
    page = logged_in
    send(page, "[[fake tokens=400 delay_ms=40]] long one")
    page.wait_for_function("document.querySelector('.msg-assistant .md')?.textContent.includes('word10')")
    page.get_by_test_id("stop").click()
    wait_answer_status(page, "stopped")
    text = answer_text(page)
    assert "word10" in text and "word400" not in text
    assert page.locator(".msg-note").inner_text() == "Stopped"
    stored = api_json(context, "GET", f"/api/conversations/{current_conversation_id(page)}")["messages"][-1]
    assert stored["status"] == "stopped" and "word10" in stored["content"]
    page.reload()  # stored as stopped, with the partial text
    wait_answer_status(page, "stopped")
    assert "word10" in answer_text(page)


def test_escape_stops_generation(logged_in):
    page = logged_in
    send(page, "[[fake tokens=400 delay_ms=40]] long one")
    page.wait_for_function("document.querySelector('.msg-assistant .md')?.textContent.includes('word5')")
    page.keyboard.press("Escape")
    wait_answer_status(page, "stopped")


def test_regenerate_adds_a_version_beside_the_last_answer(context, logged_in):
    page = logged_in
    send(page, "[[fake tokens=30 delay_ms=30]] again please")
    wait_answer_status(page, "completed")
    old_id = last_answer(page).get_attribute("data-id")
    page.locator(".msg-assistant").last.hover()
    page.get_by_test_id("regenerate").click()
    page.locator(".md.streaming").wait_for()  # it streams again
    wait_answer_status(page, "completed")
    assert page.locator(".msg-assistant").count() == 1  # the new version is shown, the old one is beside it
    assert page.locator(".msg-user").count() == 1
    assert last_answer(page).get_attribute("data-id") != old_id
    assert last_answer(page).get_by_test_id("version-count").inner_text() == "2/2"
    assert answer_text(page).strip().endswith("word30")
    stored = api_json(context, "GET", f"/api/conversations/{current_conversation_id(page)}")["messages"]
    assert [m["role"] for m in stored] == ["user", "assistant", "assistant"]  # nothing deleted
    page.reload()
    wait_answer_status(page, "completed")
    assert page.locator(".msg-assistant").count() == 1
    assert last_answer(page).get_by_test_id("version-count").inner_text() == "2/2"
    last_answer(page).get_by_test_id("version-prev").click()
    page.wait_for_function("(id) => document.querySelector('.msg-assistant')?.dataset.id === id", arg=old_id)
    assert last_answer(page).get_by_test_id("version-count").inner_text() == "1/2"


@pytest.fixture
def flaky_model():
    """A server whose model is down at first (nothing listens on its port) and can be brought up by the test."""
    port = free_port()
    proc, base = start_chatbox("chatbox-flaky", f"http://127.0.0.1:{port}/v1")
    state = {"base": base, "port": port, "upstream": None}
    yield state
    if state["upstream"]:
        state["upstream"].stop()
    proc.stop()


def test_a_failed_answer_shows_the_error_and_retry_works(browser, flaky_model):
    ctx = make_context(browser, flaky_model["base"])
    page = ctx.new_page()
    from conftest import PageWatch
    watch = PageWatch(page)
    register(ctx)
    page.goto("/")
    send(page, "Are you there?")
    wait_answer_status(page, "failed")
    error = page.locator(".msg-error")
    assert error.is_visible()
    assert len(error.inner_text().strip()) > len("The answer failed:")
    shot(page, "07-failed-answer")
    flaky_model["upstream"], _ = start_fake_upstream(flaky_model["port"], "fake-upstream-flaky")  # the model is back
    page.get_by_test_id("retry").click()
    wait_answer_status(page, "completed")
    assert "Fake upstream reply to: Are you there?" in answer_text(page)
    assert page.locator(".msg-error").count() == 0
    assert page.locator(".msg-assistant").count() == 1  # the retry is a new version; the failed one is beside it
    assert page.get_by_test_id("version-count").inner_text() == "2/2"
    page.get_by_test_id("version-prev").click()
    wait_answer_status(page, "failed")
    assert page.locator(".msg-error").count() == 1
    watch.assert_clean()
    ctx.close()


def test_an_upstream_error_message_is_shown(logged_in):
    page = logged_in
    send(page, '[[fake status=500 message="the model exploded"]] hi')
    wait_answer_status(page, "failed")
    assert "the model exploded" in page.locator(".msg-error").inner_text()
    assert page.get_by_test_id("retry").is_visible()


def test_reloading_mid_stream_reattaches_and_shows_the_answer_to_the_end(logged_in):
    page = logged_in
    send(page, "[[fake tokens=120 delay_ms=50]] a slow one")
    page.wait_for_function("document.querySelector('.msg-assistant .md')?.textContent.includes('word15')")
    conv_id = current_conversation_id(page)
    page.reload()
    page.wait_for_url(f"**/c/{conv_id}")
    page.locator(".md.streaming").wait_for()  # live again after the reload
    lengths = sample_lengths(page, ".msg-assistant:last-child .msg-body")
    assert len({n for n in lengths}) >= 3, f"did not keep streaming after the reload: {lengths}"
    wait_answer_status(page, "completed")
    assert answer_text(page).strip().endswith("word120")


def test_open_an_old_conversation_and_continue_it(context, page, user):
    conv = api_conversation(context)
    api_turn(context, conv["id"], '[[fake reply="The capital of France is Paris."]] capital of France?')
    page.goto("/")
    page.locator(".conv-link").first.wait_for()
    page.locator(f'.conv-item[data-id="{conv["id"]}"] .conv-link').click()
    page.wait_for_url(f"**/c/{conv['id']}")
    assert "The capital of France is Paris." in answer_text(page)
    send(page, "[[fake echo]] and of Italy?")
    wait_answer_status(page, "completed")
    assert page.locator(".msg-user").count() == 2
    assert re.match(r"model=\S+ temperature=\S+ 3 messages:", answer_text(page))  # the model received the earlier turn
    page.go_back()  # history works: back to the blank page, forward to the chat
    page.locator(".empty-state").wait_for()
    page.go_forward()
    page.wait_for_url(f"**/c/{conv['id']}")
    page.locator(".msg-user").nth(1).wait_for()
    assert page.locator(".msg-user").count() == 2


def test_ime_composition_does_not_send(logged_in):
    page = logged_in
    box = page.get_by_test_id("composer")
    box.click()
    box.fill("nihao")
    box.dispatch_event("compositionstart", {"data": ""})
    page.evaluate("""() => document.querySelector('[data-testid=composer]').dispatchEvent(
        new KeyboardEvent('keydown', { key: 'Enter', code: 'Enter', isComposing: true, keyCode: 229, bubbles: true, cancelable: true }))""")
    box.dispatch_event("compositionend", {"data": "你好"})
    # Safari: the Enter confirming a candidate arrives after compositionend with keyCode 229
    page.evaluate("""() => document.querySelector('[data-testid=composer]').dispatchEvent(
        new KeyboardEvent('keydown', { key: 'Enter', code: 'Enter', keyCode: 229, bubbles: true, cancelable: true }))""")
    page.wait_for_timeout(400)
    assert page.locator(".msg").count() == 0 and page.evaluate("location.pathname") == "/"
    assert box.input_value() == "nihao"
    box.press("Enter")  # a real Enter after the composition ended sends
    page.locator(".msg-user").wait_for()


def test_shift_enter_makes_a_new_line(logged_in):
    page = logged_in
    box = page.get_by_test_id("composer")
    box.type("line one")
    box.press("Shift+Enter")
    box.type("line two")
    assert box.input_value() == "line one\nline two"
    assert page.locator(".msg").count() == 0


def test_new_chat_keyboard_shortcut(logged_in):
    page = logged_in
    send(page, '[[fake reply="ok"]] hi')
    wait_answer_status(page, "completed")
    page.keyboard.press("Control+Shift+O")
    page.wait_for_url(lambda u: u.endswith("/"))
    page.locator(".empty-state").wait_for()


def test_auto_scroll_stops_when_the_user_scrolls_up(logged_in):
    page = logged_in
    send(page, "[[fake tokens=700 delay_ms=8]] a very long answer")
    page.wait_for_function("(() => { const s = document.querySelector('.chat-scroll'); return s.scrollHeight > s.clientHeight + 400 })()")
    at_bottom = "(() => { const s = document.querySelector('.chat-scroll'); return s.scrollHeight - s.scrollTop - s.clientHeight < 60 })()"
    assert page.evaluate(at_bottom)
    page.mouse.move(640, 300)
    page.mouse.wheel(0, -600)
    page.wait_for_timeout(500)
    top = page.evaluate("document.querySelector('.chat-scroll').scrollTop")
    page.wait_for_timeout(500)
    assert page.evaluate("document.querySelector('.chat-scroll').scrollTop") == top  # not dragged down
    assert page.locator(".scroll-down").is_visible()
    page.locator(".scroll-down").click()
    page.wait_for_timeout(300)
    assert page.evaluate(at_bottom)
    page.keyboard.press("Escape")
    wait_answer_status(page, ("stopped", "completed"))
