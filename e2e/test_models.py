"""Models (issue 14): the header's model picker over an admin-added connection, switching models between turns, the
chat settings panel (system prompt and temperature reach the model), presets, the thinking block of a reasoning
model, the composer free at `done` while a slow title is still coming, the admin's connections (the API key never
shown) and model settings, Regenerate with another model, and a model that disappeared.

A server of its own: its start-up connection is the session's fake upstream (model `fake`); the `env` fixture adds a
connection "Fake Two" to a second fake upstream listing `alpha` and `beta`."""
import json
import re

import pytest

from conftest import PASSWORD, PageWatch, Proc, bin_dir, make_context, register, start_chatbox, unique_name
from helpers import answer_text, api_json, current_conversation_id, send, shot, wait_answer_status

ADMIN = "models-root"


def start_fake(name: str, *args: str) -> tuple[Proc, str]:
    proc = Proc(name, [str(bin_dir() / "fake-upstream"), "--port", "0", *args],
                wait_for=r"listening on (http://127\.0\.0\.1:\d+/v1)")
    return proc, proc.match.group(1)


def login(ctx, username, password=PASSWORD):
    r = ctx.request.post("/api/auth/login", data={"username": username, "password": password})
    assert r.status == 200, f"login {username}: {r.status} {r.text()}"


@pytest.fixture(scope="module")
def models_server(browser, fake_upstream):
    """The fake upstreams and the server; `admin` is a logged-in admin's context."""
    procs = []
    try:
        two, two_url = start_fake("fake-upstream-two", "--models", "alpha,beta")
        procs.append(two)
        server, base = start_chatbox("chatbox-models", fake_upstream, admin=(ADMIN, PASSWORD),
                                     extra_env={"CHATBOX_TITLE_TIMEOUT": "60"})
        procs.append(server)
        admin = make_context(browser, base)
        login(admin, ADMIN)
        yield {"base": base, "admin": admin, "two_url": two_url}
        admin.close()
    finally:
        for proc in reversed(procs):
            proc.stop()


@pytest.fixture(scope="module")
def env(models_server):
    """The server with the connection "Fake Two" (alpha, beta) added by the admin."""
    admin = models_server["admin"]
    conn = api_json(admin, "POST", "/api/admin/connections",
                    {"name": "Fake Two", "kind": "openai_compatible", "base_url": models_server["two_url"]})
    conn = conn.get("connection", conn)
    api_json(admin, "POST", f"/api/admin/connections/{conn['id']}/refresh", {})
    return {**models_server, "connection": conn}


@pytest.fixture
def ctx(browser, models_server):
    c = make_context(browser, models_server["base"])
    yield c
    c.close()


@pytest.fixture
def page(ctx):
    register(ctx)
    pg = ctx.new_page()
    pg.set_default_timeout(15000)
    pg.watch = PageWatch(pg)
    pg.goto("/")
    pg.wait_for_selector(".empty-state")
    yield pg
    pg.watch.assert_clean()


def pick_model(page, model_id: str):
    page.get_by_test_id("model-picker").click()
    page.get_by_test_id("model-menu").wait_for()
    page.locator(f'[data-testid="model-option"][data-model="{model_id}"]').click()
    page.get_by_test_id("model-menu").wait_for(state="detached")
    page.wait_for_function("(id) => document.querySelector('[data-testid=model-picker]')?.dataset.model === id",
                           arg=model_id)


def answer_models(page) -> list[str]:
    return [t.strip() for t in page.locator('.msg-assistant [data-testid="message-model"]').all_inner_texts()]


def stored(ctx, conv_id) -> dict:
    return api_json(ctx, "GET", f"/api/conversations/{conv_id}")


def test_the_picker_lists_the_connections_models_and_the_answer_records_the_model(env, ctx, page):
    page.get_by_test_id("model-picker").click()
    menu = page.get_by_test_id("model-menu")
    menu.wait_for()
    options = page.locator('[data-testid="model-option"]')
    ids = [options.nth(i).get_attribute("data-model") for i in range(options.count())]
    assert "alpha" in ids and "beta" in ids and "fake" in ids, ids
    assert "Fake Two" in menu.inner_text()  # grouped by connection
    shot(page, "22-model-picker")
    page.locator('[data-testid="model-option"][data-model="alpha"]').click()
    page.wait_for_function("document.querySelector('[data-testid=model-picker]').dataset.model === 'alpha'")
    send(page, "[[fake echo]] who are you")
    wait_answer_status(page, "completed")
    conv_id = current_conversation_id(page)
    assert "model=alpha" in answer_text(page)
    assert answer_models(page) == ["alpha"]
    assert stored(ctx, conv_id)["conversation"]["model"] == "alpha"
    hover = page.locator('[data-testid="message-model"]').get_attribute("title")
    assert re.search(r"tokens/s", hover), hover  # usage, first token and duration are stored
    assert re.search(r"\d+ prompt \+ \d+ completion tokens", hover), hover
    # the next new chat starts with the last choice
    page.get_by_role("button", name="New chat").first.click()
    page.wait_for_selector(".empty-state")
    assert page.get_by_test_id("model-picker").get_attribute("data-model") == "alpha"
    send(page, "[[fake tokens=3]] again")
    wait_answer_status(page, "completed")
    assert answer_models(page) == ["alpha"]


def test_switching_models_applies_from_the_next_turn(env, ctx, page):
    pick_model(page, "alpha")
    send(page, "[[fake echo]] first")
    wait_answer_status(page, "completed")
    conv_id = current_conversation_id(page)
    pick_model(page, "beta")
    assert stored(ctx, conv_id)["conversation"]["model"] == "beta"
    assert answer_models(page) == ["alpha"]  # the answer already written keeps its model
    send(page, "[[fake echo]] second")
    page.wait_for_function("document.querySelectorAll('.msg-assistant').length === 2")
    wait_answer_status(page, "completed")
    assert "model=beta" in answer_text(page)
    assert answer_models(page) == ["alpha", "beta"]
    page.reload()
    wait_answer_status(page, "completed")
    assert answer_models(page) == ["alpha", "beta"]
    assert page.get_by_test_id("model-picker").get_attribute("data-model") == "beta"


def open_settings(page):
    page.get_by_test_id("chat-settings-open").click()
    page.get_by_test_id("chat-settings").wait_for()


def test_the_settings_panel_sends_the_system_prompt_and_temperature_to_the_model(ctx, page):
    send(page, "[[fake tokens=3]] hello")
    wait_answer_status(page, "completed")
    conv_id = current_conversation_id(page)
    open_settings(page)
    page.get_by_test_id("system-prompt").fill("You are a pirate. Answer like one.")
    page.get_by_test_id("temperature").fill("0.3")
    assert page.get_by_test_id("temperature-default").is_checked() is False
    shot(page, "23-chat-settings")
    page.get_by_test_id("save-settings").click()
    page.get_by_test_id("chat-settings").wait_for(state="detached")
    conv = stored(ctx, conv_id)["conversation"]
    assert conv["system_prompt"] == "You are a pirate. Answer like one."
    assert conv["temperature"] == pytest.approx(0.3)
    send(page, "[[fake echo]] what are you")
    page.wait_for_function("document.querySelectorAll('.msg-assistant').length === 2")
    wait_answer_status(page, "completed")
    echo = answer_text(page)
    assert re.search(r"temperature=0\.3", echo.split("messages: ", 1)[0]), echo
    assert echo.split("messages: ", 1)[1].startswith("system: You are a pirate. Answer like one."), echo
    # back to the defaults: no system prompt of ours, no temperature
    open_settings(page)
    assert page.get_by_test_id("system-prompt").input_value() == "You are a pirate. Answer like one."
    page.get_by_test_id("system-prompt").fill("")
    page.get_by_test_id("temperature-default").check()
    page.get_by_test_id("save-settings").click()
    page.get_by_test_id("chat-settings").wait_for(state="detached")
    conv = stored(ctx, conv_id)["conversation"]
    assert conv["system_prompt"] is None and conv["temperature"] is None
    send(page, "[[fake echo]] and now")
    page.wait_for_function("document.querySelectorAll('.msg-assistant').length === 3")
    wait_answer_status(page, "completed")
    echo = answer_text(page)
    assert not echo.split("messages: ", 1)[1].startswith("system: You are a pirate"), echo  # the server's default
    assert not re.search(r"temperature=0\.3", echo.split("messages: ", 1)[0]), echo  # what this turn sent


def test_a_preset_is_saved_and_starts_a_new_chat_with_its_settings(env, ctx, page):
    pick_model(page, "beta")
    open_settings(page)  # on the blank page: kept for the first message, and savable as a preset
    page.get_by_test_id("system-prompt").fill("Always answer in haiku.")
    page.get_by_test_id("temperature").fill("1.4")
    name = unique_name("Haiku ")
    page.get_by_test_id("preset-name").fill(name)
    page.get_by_test_id("save-preset").click()
    page.get_by_test_id("preset-saved").wait_for()
    presets = api_json(ctx, "GET", "/api/presets")["presets"]
    saved = [p for p in presets if p["name"] == name]
    assert len(saved) == 1
    assert saved[0]["model"] == "beta" and saved[0]["system_prompt"] == "Always answer in haiku."
    assert saved[0]["temperature"] == pytest.approx(1.4)
    page.keyboard.press("Escape")
    page.get_by_test_id("chat-settings").wait_for(state="detached")
    preset = page.locator(f'[data-testid="preset"][data-name="{name}"]')
    preset.wait_for()
    shot(page, "24-presets")
    pick_model(page, "alpha")  # the preset's model wins over the picker's
    preset.get_by_test_id("preset-start").click()
    page.wait_for_url(re.compile(r"/c/\w+"))
    conv_id = current_conversation_id(page)
    conv = stored(ctx, conv_id)["conversation"]
    assert conv["model"] == "beta" and conv["system_prompt"] == "Always answer in haiku."
    assert conv["temperature"] == pytest.approx(1.4)
    page.wait_for_function("document.querySelector('[data-testid=model-picker]')?.dataset.model === 'beta'")
    send(page, "[[fake echo]] spring")
    wait_answer_status(page, "completed")
    echo = answer_text(page)
    assert re.match(r"model=beta temperature=1\.4", echo), echo
    assert echo.split("messages: ", 1)[1].startswith("system: Always answer in haiku."), echo
    # delete it
    page.get_by_role("button", name="New chat").first.click()
    page.wait_for_selector(".empty-state")
    page.locator(f'[data-testid="preset"][data-name="{name}"] [data-testid="preset-delete"]').click()
    page.locator(f'[data-testid="preset"][data-name="{name}"]').wait_for(state="detached")
    assert not [p for p in api_json(ctx, "GET", "/api/presets")["presets"] if p["name"] == name]


def test_the_thinking_block_is_live_then_folds_and_stays_out_of_the_answer(ctx, page):
    send(page, "[[fake think=30 think_delay_ms=80 tokens=6 delay_ms=30]] think first")
    block = page.locator(".msg-assistant").last.get_by_test_id("thinking")
    page.wait_for_selector('[data-testid="thinking"][data-state="live"]')
    assert block.get_by_test_id("thinking-label").inner_text().strip() == "Thinking…"
    assert block.get_by_test_id("thinking-body").is_visible()  # open while it thinks
    page.wait_for_function(
        "document.querySelector('[data-testid=thinking-body] .md')?.textContent.trim().length > 0")
    assert page.locator(".msg-assistant").last.locator(".msg-body > .md").count() == 0  # no answer yet
    shot(page, "25-thinking-live")
    wait_answer_status(page, "completed")
    assert block.get_attribute("data-state") == "done"
    label = block.get_by_test_id("thinking-label").inner_text().strip()
    assert re.fullmatch(r"Thought for \d+ s", label), label
    assert not block.get_by_test_id("thinking-body").is_visible()  # folded once the answer started
    conv_id = current_conversation_id(page)
    message = stored(ctx, conv_id)["messages"][-1]
    reasoning = message["reasoning"].strip()
    assert reasoning
    answer = page.locator(".msg-assistant").last.locator(".msg-body > .md").inner_text()
    assert answer.strip().endswith("word6")
    assert "<think>" not in answer and "</think>" not in answer
    first_thought = reasoning.split()[0]
    assert first_thought not in answer, (first_thought, answer)
    assert "<think>" not in message["content"] and reasoning.split()[0] not in message["content"]
    block.locator(".thinking-toggle").click()  # opens on demand
    assert block.get_by_test_id("thinking-body").is_visible()
    assert first_thought in block.get_by_test_id("thinking-body").inner_text()
    shot(page, "26-thinking-done")
    page.reload()  # from the store: folded, no think time known
    wait_answer_status(page, "completed")
    block = page.locator(".msg-assistant").last.get_by_test_id("thinking")
    assert block.get_by_test_id("thinking-label").inner_text().strip() == "Thought"
    assert not block.get_by_test_id("thinking-body").is_visible()


@pytest.mark.parametrize("form", ["reasoning_content=25", "reasoning=25", "think=25 think_open=0"])
def test_every_reasoning_form_shows_as_a_thinking_block(page, form):
    send(page, f"[[fake {form} tokens=4]] hm")
    wait_answer_status(page, "completed")
    block = page.locator(".msg-assistant").last.get_by_test_id("thinking")
    assert re.fullmatch(r"Thought for \d+ s", block.get_by_test_id("thinking-label").inner_text().strip())
    assert page.locator(".msg-assistant").last.locator(".msg-body > .md").inner_text().strip().endswith("word4")


def test_reasoning_is_sanitised_markdown_apart_from_the_answer(ctx, page):
    """A leading <think>…</think> in the content (Ollama's form) becomes the thinking block: Markdown through the same
    sanitiser (no script runs: PageWatch fails the test on a dialog), never part of the answer's Markdown."""
    send(page, '[[fake reply="<think>Consider **this** <img src=x onerror=alert(1)> first</think>The **answer** here"]] q')
    wait_answer_status(page, "completed")
    block = page.locator(".msg-assistant").last.get_by_test_id("thinking")
    block.locator(".thinking-toggle").click()
    body = block.get_by_test_id("thinking-body")
    assert body.locator("strong").inner_text() == "this"
    assert body.locator("img[onerror]").count() == 0
    answer = page.locator(".msg-assistant").last.locator(".msg-body > .md")
    assert answer.locator("strong").inner_text() == "answer"
    assert "Consider" not in answer.inner_text() and "think>" not in answer.inner_text()


def test_the_composer_is_free_at_done_while_a_slow_title_is_still_coming(ctx, page):
    # the title model waits 10 s (title_delay_ms; CHATBOX_TITLE_TIMEOUT is 60 s here): the answer is done long before
    send(page, '[[fake title_reply="Slow title arrives" title_delay_ms=10000 tokens=3]] first question')
    wait_answer_status(page, "completed")
    conv_id = current_conversation_id(page)
    # done arrived: the send button is back although the stream still waits for the title
    page.get_by_test_id("composer").fill("[[fake tokens=4]] second question")
    assert page.get_by_test_id("send").is_enabled()
    title_now = page.locator(f'.conv-item[data-id="{conv_id}"] .conv-link').inner_text()
    assert title_now != "Slow title arrives", "the title came before the test could ask its second question"
    page.get_by_test_id("composer").press("Enter")
    page.wait_for_function("document.querySelectorAll('.msg-assistant').length === 2")
    wait_answer_status(page, "completed")
    assert page.locator(".composer-error").count() == 0  # not refused as "already being generated"
    assert answer_text(page).strip().endswith("word4")
    # the title still reaches the sidebar and the header
    page.wait_for_function(
        "(id) => document.querySelector(`.conv-item[data-id='${id}'] .conv-link`)?.textContent.trim() === 'Slow title arrives'",
        arg=conv_id, timeout=60000)
    assert page.locator(".chat-title").inner_text() == "Slow title arrives"


def test_regenerate_with_another_model(env, ctx, page):
    pick_model(page, "alpha")
    send(page, "[[fake echo]] once more")
    wait_answer_status(page, "completed")
    conv_id = current_conversation_id(page)
    assert answer_models(page) == ["alpha"]
    page.locator(".msg-assistant").last.hover()
    page.get_by_test_id("regenerate-with").click()
    menu = page.get_by_test_id("regenerate-menu")
    menu.wait_for()
    menu.locator('[data-testid="regenerate-model"][data-model="beta"]').click()
    page.wait_for_function("document.querySelector('.msg-assistant [data-testid=message-model]')?.textContent.trim() === 'beta'"
                           " && document.querySelector('.msg-assistant').dataset.status === 'completed'")
    assert page.locator(".msg-assistant").count() == 1
    assert "model=beta" in answer_text(page)
    assert page.get_by_test_id("model-picker").get_attribute("data-model") == "beta"
    assert stored(ctx, conv_id)["conversation"]["model"] == "beta"


def test_a_model_that_is_gone_says_so_and_opens_the_picker(env, ctx, page):
    admin = env["admin"]
    pick_model(page, "beta")
    send(page, "[[fake tokens=3]] before")
    wait_answer_status(page, "completed")
    api_json(admin, "PATCH", "/api/admin/models", {"hidden": ["beta"]})
    try:
        send(page, "[[fake tokens=3]] after")
        error = page.locator(".composer-error")
        error.wait_for()
        assert 'The model "beta" is no longer available' in error.inner_text()
        page.get_by_test_id("model-menu").wait_for()  # the picker opened
        assert page.locator('[data-testid="model-option"][data-model="beta"]').count() == 0
        assert page.get_by_test_id("composer").input_value() == "[[fake tokens=3]] after"  # the question is kept
        assert page.locator(".msg-user").count() == 1
        page.locator('[data-testid="model-option"][data-model="alpha"]').click()
        page.get_by_test_id("composer").press("Enter")
        page.wait_for_function("document.querySelectorAll('.msg-assistant').length === 2")
        wait_answer_status(page, "completed")
        assert answer_models(page) == ["beta", "alpha"]
    finally:
        api_json(admin, "PATCH", "/api/admin/models", {"hidden": []})


@pytest.fixture
def admin_page(browser, models_server):
    c = make_context(browser, models_server["base"])
    login(c, ADMIN)
    pg = c.new_page()
    pg.set_default_timeout(15000)
    pg.watch = PageWatch(pg)
    pg.goto("/admin")
    pg.get_by_test_id("connections").wait_for()
    yield pg
    pg.watch.assert_clean()
    c.close()


def connection(page, name):
    return page.locator(f'[data-testid="connection"][data-name="{name}"]')


def test_admin_connections_add_edit_refresh_delete_and_the_key_is_never_shown(env, admin_page):
    page = admin_page
    page.reload()  # with the connections the fixture added
    page.get_by_test_id("connections").wait_for()
    admin = env["admin"]
    secret = "sk-e2e-" + unique_name("secret")
    # the start-up connection: listed first, read-only
    first = page.locator('[data-testid="connection"]').first
    assert first.get_attribute("data-read-only") == "true"
    assert first.get_by_test_id("connection-edit").count() == 0 and first.get_by_test_id("connection-delete").count() == 0
    # add
    name = unique_name("Provider ")
    page.get_by_test_id("add-connection").click()
    form = page.get_by_test_id("connection-form")
    form.wait_for()
    form.get_by_test_id("conn-name").fill(name)
    form.get_by_test_id("conn-kind").select_option("openai_compatible")
    form.get_by_test_id("conn-base-url").fill(env["two_url"])
    form.get_by_test_id("conn-api-key").fill(secret)
    form.get_by_test_id("conn-headers").fill("X-Title: Chatbox e2e")
    form.get_by_test_id("conn-models").fill("hand-made-model")
    page.get_by_test_id("conn-save").click()
    form.wait_for(state="detached")
    row = connection(page, name)
    row.wait_for()
    assert row.get_by_test_id("connection-key").inner_text().strip() == "set"
    row.get_by_test_id("connection-refresh").click()
    page.wait_for_function(
        "(n) => document.querySelector(`[data-testid=connection][data-name='${n}'] [data-testid=connection-models]`)"
        "?.textContent.includes('alpha')", arg=name)
    assert "hand-made-model" in row.get_by_test_id("connection-models").inner_text()
    hide_toasts = page.add_style_tag(content=".toasts { visibility: hidden; }")  # not over the list in the picture
    shot(page, "27-admin-connections")
    hide_toasts.evaluate("el => el.remove()")
    # the key never comes back: not in the API, not in the page, not in the edit form
    listed = admin.request.get("/api/admin/connections").text()
    assert secret not in listed and '"api_key"' not in listed
    assert secret not in page.content()
    row.get_by_test_id("connection-edit").click()
    form.wait_for()
    assert form.get_by_test_id("conn-api-key").input_value() == ""
    assert form.get_by_test_id("conn-key-set").inner_text().strip() == "set"
    assert form.get_by_test_id("conn-headers").input_value() == "X-Title: Chatbox e2e"
    # edit: a base URL nobody listens on, then Refresh shows the connection's error
    form.get_by_test_id("conn-base-url").fill("http://127.0.0.1:9/v1")
    page.get_by_test_id("conn-save").click()
    form.wait_for(state="detached")
    row.get_by_test_id("connection-refresh").click()
    row.get_by_test_id("connection-error").wait_for()
    assert row.get_by_test_id("connection-error").inner_text().strip()
    conns = api_json(admin, "GET", "/api/admin/connections")["connections"]
    mine = [c for c in conns if c["name"] == name][0]
    assert mine["api_key_set"] is True and mine["base_url"] == "http://127.0.0.1:9/v1" and mine["error"]
    # hide / show a model, default model select lists the models
    model_row = page.locator('[data-testid="model-row"][data-model="alpha"]')
    model_row.get_by_test_id("model-visible").uncheck()
    page.wait_for_function("() => !document.querySelector('[data-testid=model-row][data-model=alpha] input').checked")
    assert "alpha" not in [m["id"] for m in api_json(admin, "GET", "/api/models")["models"]]
    model_row.get_by_test_id("model-visible").check()
    page.wait_for_function("() => document.querySelector('[data-testid=model-row][data-model=alpha] input').checked")
    assert "alpha" in [m["id"] for m in api_json(admin, "GET", "/api/models")["models"]]
    # delete
    row.get_by_test_id("connection-delete").click()
    page.get_by_role("alertdialog").get_by_role("button", name="Delete").click()
    row.wait_for(state="detached")
    assert name not in json.dumps(api_json(admin, "GET", "/api/admin/connections"))


def test_the_model_strings_are_in_chinese(browser, models_server):
    c = make_context(browser, models_server["base"], locale="zh-CN")
    register(c)
    pg = c.new_page()
    watch = PageWatch(pg)
    pg.goto("/")
    pg.wait_for_selector(".empty-state")
    pg.get_by_test_id("chat-settings-open").click()
    pg.get_by_role("dialog", name="对话设置").wait_for()
    assert pg.get_by_text("系统提示词").count() == 1
    pg.keyboard.press("Escape")
    pg.get_by_test_id("composer").fill("[[fake reasoning_content=10 tokens=3]] 你好")
    pg.get_by_test_id("composer").press("Enter")
    wait_answer_status(pg, "completed")
    label = pg.locator('[data-testid="thinking-label"]').inner_text().strip()
    assert re.fullmatch(r"已思考 \d+ 秒", label), label
    assert pg.get_by_test_id("model-picker").get_attribute("title") == "选择模型"
    shot(pg, "28-thinking-zh")
    watch.assert_clean()
    c.close()
