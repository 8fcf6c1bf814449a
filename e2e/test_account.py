"""The account page: change password (other sessions signed out), sessions and revoking them, export as JSON and
import into a fresh account (same conversations), a ChatGPT conversations.json (every branch, the current one selected), malformed and
too-large files (nothing imported), deleting the account; Export as Markdown from the chat; screenshots."""
import json

import pytest

from conftest import PASSWORD, PageWatch, make_context, register, start_chatbox, unique_name
from helpers import api_conversation, api_json, api_turn, shot, sidebar_titles

NEW_PASSWORD = "another-horse-staple-42"


def login(ctx, username, password=PASSWORD):
    r = ctx.request.post("/api/auth/login", data={"username": username, "password": password})
    assert r.status == 200, f"login {username}: {r.status} {r.text()}"


def login_status(browser, server, username, password) -> int:
    ctx = make_context(browser, server)
    r = ctx.request.post("/api/auth/login", data={"username": username, "password": password})
    ctx.close()
    return r.status


def open_account(page):
    page.goto("/account")
    page.get_by_test_id("account-page").wait_for()
    page.locator(".session").first.wait_for()


def history(ctx) -> list:
    """The user's conversations as the API lists them (newest first), each with its messages in order."""
    out = []
    for c in api_json(ctx, "GET", "/api/conversations?limit=100")["conversations"]:
        full = api_json(ctx, "GET", f"/api/conversations/{c['id']}")
        out.append((c["title"], [(m["role"], m["status"], m["content"]) for m in full["messages"]]))
    return out


@pytest.fixture
def others(browser, server):
    contexts = []

    def new():
        ctx = make_context(browser, server)
        contexts.append(ctx)
        return ctx

    yield new
    for ctx in contexts:
        ctx.close()


def test_the_sidebar_links_to_the_account_page(logged_in, user):
    page = logged_in
    assert page.get_by_test_id("admin-link").count() == 0  # an ordinary user
    page.get_by_test_id("account-link").click()
    page.wait_for_url("**/account")
    assert page.get_by_test_id("account-username").inner_text() == user
    assert page.title() == "Account · Chatbox"
    page.get_by_role("link", name="Back to chat").click()
    page.locator(".empty-state").wait_for()


def test_change_password_signs_out_the_other_sessions(browser, server, page, user, others):
    other = others()
    login(other, user)
    assert other.request.get("/api/auth/me").status == 200
    open_account(page)
    page.wait_for_function("document.querySelectorAll('.session').length === 2")
    form = page.get_by_test_id("change-password")
    submit = form.get_by_role("button", name="Change password")
    # a wrong current password
    form.get_by_label("Current password").fill("not-my-password-1")
    form.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    form.get_by_label("Repeat the new password").fill(NEW_PASSWORD)
    submit.click()
    assert form.get_by_role("alert").inner_text() == "The password is not correct."
    # the two new ones differ: said at once, and nothing can be sent
    form.get_by_label("Repeat the new password").fill(NEW_PASSWORD + "x")
    assert form.get_by_role("alert").inner_text() == "The two new passwords differ."
    assert submit.is_disabled()
    # a new password the rules refuse: the server's reason
    form.get_by_label("Current password").fill(PASSWORD)
    form.get_by_label("New password", exact=True).fill("x")
    form.get_by_label("Repeat the new password").fill("x")
    submit.click()
    assert "password" in form.get_by_role("alert").inner_text().lower()
    # done
    form.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    form.get_by_label("Repeat the new password").fill(NEW_PASSWORD)
    submit.click()
    assert form.get_by_role("status").inner_text() == "Password changed. Your other sessions were signed out."
    assert form.get_by_label("Current password").input_value() == ""
    # the other session is gone, this one stays
    assert other.request.get("/api/auth/me").status == 401
    page.wait_for_function("document.querySelectorAll('.session').length === 1")
    page.reload()
    page.get_by_test_id("account-page").wait_for()
    assert login_status(browser, server, user, PASSWORD) == 401
    assert login_status(browser, server, user, NEW_PASSWORD) == 200


def test_sessions_are_listed_with_this_device_marked_and_can_be_revoked(page, user, others):
    a, b = others(), others()
    login(a, user)
    login(b, user)
    open_account(page)
    page.wait_for_function("document.querySelectorAll('.session').length === 3")
    sessions = page.locator(".session")
    current = page.locator(".session.current")
    assert current.count() == 1
    assert current.get_by_test_id("this-device").inner_text() == "This device"
    assert current.get_by_role("button").count() == 0  # this one is ended by logging out
    assert page.get_by_role("button", name="Revoke").count() == 2
    assert current.evaluate("el => el === el.parentElement.firstElementChild")  # this device comes first
    assert "Signed in" in sessions.first.inner_text() and "Expires" in sessions.first.inner_text()
    # revoke one of the others
    victim = page.locator(".session:not(.current)").first
    victim_id = victim.get_attribute("data-session-id")
    victim.get_by_role("button", name="Revoke the session signed in").click()
    page.wait_for_function("document.querySelectorAll('.session').length === 2")
    page.get_by_text("The session was signed out.").wait_for()
    statuses = sorted([a.request.get("/api/auth/me").status, b.request.get("/api/auth/me").status])
    assert statuses == [200, 401]
    listed = api_json(page.context, "GET", "/api/account/sessions")["sessions"]
    assert victim_id not in [str(s["id"]) for s in listed]
    page.reload()
    page.wait_for_function("document.querySelectorAll('.session').length === 2")


def test_export_then_import_into_a_fresh_account_reproduces_the_conversations(browser, server, context, page, user,
                                                                               tmp_path):
    plan = [("Trip to Kyoto", ["Where should I stay?", "And what should I eat?"]),
            ("Linear algebra", ["What is an eigenvector?"]),
            ("Unicode 中文 ✓", ["Say 你好 with `code` and $x^2$"])]
    for title, questions in plan:
        conv = api_conversation(context, title)
        for i, q in enumerate(questions):
            api_turn(context, conv["id"], f'[[fake reply="Answer {i} about {title}: **done**"]] {q}')
    before = history(context)
    assert len(before) == 3 and sum(len(m) for _, m in before) == 8

    open_account(page)
    with page.expect_download() as dl:
        page.get_by_test_id("export-all").click()
    download = dl.value
    assert download.suggested_filename == "chatbox-export.json"
    path = tmp_path / "chatbox-export.json"
    download.save_as(path)
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["format"] == "chatbox-export" and data["version"] == 2 and data["username"] == user
    assert sorted(c["title"] for c in data["conversations"]) == sorted(t for t, _ in plan)
    for c in data["conversations"]:
        assert {"id", "title", "created_at", "updated_at", "messages"} <= set(c)
        assert c["current_leaf_id"] == c["messages"][-1]["id"]  # each a single branch here
        for i, m in enumerate(c["messages"]):
            assert {"id", "role", "status", "content", "created_at"} <= set(m)
            assert m.get("parent_id") == (c["messages"][i - 1]["id"] if i else None)

    # a fresh account imports the file through its account page
    fresh = make_context(browser, server)
    other_user = register(fresh)
    page2 = fresh.new_page()
    watch = PageWatch(page2)
    open_account(page2)
    page2.get_by_test_id("import-file").set_input_files(str(path))
    report = page2.get_by_test_id("import-report")
    report.wait_for()
    assert "Imported 3 chats (8 messages) from a Chatbox export." in report.inner_text()
    assert "Skipped" not in report.inner_text()
    assert history(fresh) == before  # same titles, same messages in the same order, newest first
    page2.wait_for_function("document.querySelectorAll('.conv-link').length === 3")  # the sidebar shows them
    assert sidebar_titles(page2) == [t for t, _ in before]
    report.scroll_into_view_if_needed()
    shot(page2, "17-account-import-report")

    # the same file again: nothing doubles, each is reported as already here
    page2.get_by_test_id("import-file").set_input_files(str(path))
    page2.wait_for_function("document.querySelector('[data-testid=import-report]')?.textContent.includes('Imported 0 chats')")
    skipped = page2.locator(".skipped-list li").all_inner_texts()
    assert sorted(skipped) == sorted(f"{t} — it is already here" for t, _ in plan)
    assert len(history(fresh)) == 3
    # and an open conversation shows the imported messages
    page2.locator(".conv-link", has_text="Trip to Kyoto").click()
    page2.locator(".msg-assistant").nth(1).wait_for()
    assert page2.locator(".msg-user").all_inner_texts()[0].strip().endswith("Where should I stay?")
    assert other_user != user
    watch.assert_clean()
    fresh.close()


def chatgpt_export() -> list:
    """ChatGPT's conversations.json as documented: each conversation a `mapping` tree of nodes {id, message, parent,
    children}; `current_node` is the leaf of the branch the user last saw. Here the first answer was regenerated
    (two branches), there is a hidden system prompt and a tool message, and a second conversation has nothing to show."""
    t0 = 1_700_000_000.0

    def node(nid, parent, children, role=None, text=None, dt=0):
        msg = None
        if role:
            msg = {"id": nid, "author": {"role": role, "name": None, "metadata": {}}, "create_time": t0 + dt,
                   "update_time": None, "content": {"content_type": "text", "parts": [text]}, "status": "finished_successfully",
                   "end_turn": True, "weight": 1.0, "metadata": {}, "recipient": "all"}
        return {"id": nid, "message": msg, "parent": parent, "children": children}

    capitals = {
        "title": "Capitals (from ChatGPT)", "create_time": t0, "update_time": t0 + 9, "id": "conv-1",
        "conversation_id": "conv-1", "current_node": "a2",
        "mapping": {
            "root": node("root", None, ["sys"]),
            "sys": node("sys", "root", ["u1"], "system", "HIDDEN SYSTEM PROMPT", 1),
            "u1": node("u1", "sys", ["a1-old", "a1-new"], "user", "What is the capital of France?", 2),
            "a1-old": node("a1-old", "u1", ["u-old"], "assistant", "OLD BRANCH: Lyon, I think.", 3),
            "u-old": node("u-old", "a1-old", [], "user", "OLD BRANCH: are you sure?", 4),
            "a1-new": node("a1-new", "u1", ["u2"], "assistant", "Paris is the capital of France.", 5),
            "u2": node("u2", "a1-new", ["tool"], "user", "And the capital of Italy?", 6),
            "tool": node("tool", "u2", ["a2"], "tool", "TOOL OUTPUT", 7),
            "a2": node("a2", "tool", [], "assistant", "Rome.", 8),
        },
    }
    system_only = {
        "title": "Only a system prompt", "create_time": t0, "update_time": t0, "id": "conv-2", "current_node": "s",
        "mapping": {"r": node("r", None, ["s"]), "s": node("s", "r", [], "system", "nothing to see", 1)},
    }
    return [capitals, system_only]


def selected_path(full) -> list:
    """(role, content) from the first question down to the conversation's current leaf."""
    by_id = {m["id"]: m for m in full["messages"]}
    path, node = [], by_id.get(full["conversation"]["current_leaf_id"])
    while node is not None and len(path) <= len(by_id):
        path.append((node["role"], node["content"]))
        node = by_id.get(node.get("parent_id"))
    return path[::-1]


def test_import_a_chatgpt_export_keeps_every_branch_and_selects_the_current_one(context, page, user, tmp_path):
    path = tmp_path / "conversations.json"
    path.write_text(json.dumps(chatgpt_export()), encoding="utf-8")
    open_account(page)
    page.get_by_test_id("import-file").set_input_files(str(path))
    report = page.get_by_test_id("import-report")
    report.wait_for()
    text = report.inner_text()
    assert "Imported 1 chat (6 messages) from a ChatGPT export." in text
    assert "Only a system prompt" in text and "no user or assistant text" in text
    [(title, messages)] = history(context)
    assert title == "Capitals (from ChatGPT)"
    assert sorted(content for _, _, content in messages) == sorted([
        "What is the capital of France?", "OLD BRANCH: Lyon, I think.", "OLD BRANCH: are you sure?",
        "Paris is the capital of France.", "And the capital of Italy?", "Rome."])
    assert not any("HIDDEN" in c or "TOOL OUTPUT" in c for _, _, c in messages)
    conv_id = api_json(context, "GET", "/api/conversations")["conversations"][0]["id"]
    assert selected_path(api_json(context, "GET", f"/api/conversations/{conv_id}")) == [
        ("user", "What is the capital of France?"), ("assistant", "Paris is the capital of France."),
        ("user", "And the capital of Italy?"), ("assistant", "Rome.")]
    page.wait_for_function("document.querySelectorAll('.conv-link').length === 1")
    assert sidebar_titles(page) == ["Capitals (from ChatGPT)"]
    # the page opens it on `current_node`'s path; the first answer has the old branch as its other version
    page.locator(".conv-link").first.click()
    page.wait_for_function("document.querySelectorAll('.messages .msg').length === 4")
    first_answer = page.locator(".msg-assistant").first
    assert first_answer.get_by_test_id("version-count").inner_text() == "2/2"
    first_answer.get_by_test_id("version-prev").click()
    page.wait_for_function("document.querySelectorAll('.messages .msg-user .bubble')[1]?.innerText === 'OLD BRANCH: are you sure?'")
    assert page.locator(".messages .msg").count() == 3


def test_an_imported_message_over_the_limit_is_cut_and_the_report_says_so(context, page, user, tmp_path):
    long = "word " * 24_000   # 120,000 characters; the server's limit is 100,000
    export = {"format": "chatbox-export", "version": 1, "conversations": [
        {"title": "Long one", "created_at": "2024-01-01T00:00:00Z", "updated_at": "2024-01-01T00:00:00Z",
         "messages": [{"role": "user", "content": long, "status": "completed", "created_at": "2024-01-01T00:00:00Z"}]}]}
    path = tmp_path / "long.json"
    path.write_text(json.dumps(export), encoding="utf-8")
    open_account(page)
    page.get_by_test_id("import-file").set_input_files(str(path))
    page.get_by_test_id("import-report").wait_for()
    assert "1 message was longer than this server allows and was cut" in page.get_by_test_id("import-cut").inner_text()
    [(title, [(_, _, content)])] = history(context)
    assert title == "Long one" and len(content) == 100_000 and content.endswith("characters]")


@pytest.mark.parametrize("name, body, says", [
    ("broken.json", '{"format": "chatbox-export", "version": 1, "conversations": [', "JSON"),
    ("other.json", '{"hello": "world"}', "neither a Chatbox export nor"),
    ("half.json", json.dumps({"format": "chatbox-export", "version": 1, "conversations": [
        {"id": 1, "title": "Fine one", "created_at": "2024-01-01T00:00:00Z", "updated_at": "2024-01-01T00:00:00Z",
         "messages": [{"role": "user", "content": "hi", "status": "completed", "created_at": "2024-01-01T00:00:00Z"}]},
        {"id": 2, "title": "Broken one", "created_at": "2024-01-01T00:00:00Z"}]}), "damaged"),
    ("chatgpt-bad.json", json.dumps([{"title": "no tree here"}]), "mapping"),
])
def test_a_malformed_file_is_refused_with_its_reason_and_nothing_is_imported(context, page, user, tmp_path, name, body, says):
    api_conversation(context, "Already mine")
    path = tmp_path / name
    path.write_text(body, encoding="utf-8")
    open_account(page)
    page.get_by_test_id("import-file").set_input_files(str(path))
    error = page.get_by_test_id("import-error")
    error.wait_for()
    assert f"Nothing was imported from {name}:" in error.inner_text()
    assert says in error.inner_text()
    assert page.get_by_test_id("import-report").count() == 0
    assert [t for t, _ in history(context)] == ["Already mine"]


@pytest.fixture(scope="module")
def small_import_server():
    """A server that takes import files of up to 1 MB only."""
    proc, base = start_chatbox("chatbox-small-import", None, {"CHATBOX_HTTP_MAX_IMPORT_BYTES": str(1 << 20)})
    yield base
    proc.stop()


def test_a_file_over_the_servers_limit_is_refused_and_nothing_is_imported(browser, small_import_server, tmp_path):
    ctx = make_context(browser, small_import_server)
    register(ctx)
    page = ctx.new_page()
    watch = PageWatch(page)
    big = {"format": "chatbox-export", "version": 1, "conversations": [
        {"title": "Huge", "created_at": "2024-01-01T00:00:00Z",
         "messages": [{"role": "user", "content": "x" * (1 << 20), "created_at": "2024-01-01T00:00:00Z"}]}]}
    path = tmp_path / "huge.json"
    path.write_text(json.dumps(big), encoding="utf-8")
    open_account(page)
    page.get_by_test_id("import-file").set_input_files(str(path))
    error = page.get_by_test_id("import-error")
    error.wait_for()
    assert "Nothing was imported from huge.json:" in error.inner_text()
    assert "larger than 1 MB" in error.inner_text()
    assert api_json(ctx, "GET", "/api/conversations")["conversations"] == []
    watch.assert_clean()
    ctx.close()


def test_delete_my_account_needs_the_password_and_a_confirmation(browser, server, context, page, user, others):
    api_conversation(context, "Soon gone")
    other = others()
    login(other, user)
    open_account(page)
    form = page.get_by_test_id("delete-account")
    button = form.get_by_role("button", name="Delete my account")
    assert button.is_disabled()
    form.get_by_label("Your password").fill("wrong-password-77")
    button.click()
    page.get_by_role("alertdialog", name="Delete your account?").get_by_role("button", name="Delete for good").click()
    assert form.get_by_role("alert").inner_text() == "The password is not correct."
    assert context.request.get("/api/auth/me").status == 200
    # cancelling the confirmation deletes nothing
    form.get_by_label("Your password").fill(PASSWORD)
    button.click()
    dialog = page.get_by_role("alertdialog", name="Delete your account?")
    assert f"The account “{user}” and all its chats will be deleted." in dialog.inner_text()
    dialog.get_by_role("button", name="Cancel").click()
    dialog.wait_for(state="detached")
    assert context.request.get("/api/auth/me").status == 200
    # confirmed
    button.click()
    page.get_by_role("alertdialog", name="Delete your account?").get_by_role("button", name="Delete for good").click()
    page.wait_for_url("**/login")
    page.get_by_role("heading", name="Welcome back").wait_for()
    assert page.locator(".auth-note").count() == 0  # not "your session expired": the user did this
    assert context.request.get("/api/auth/me").status == 401
    assert other.request.get("/api/auth/me").status == 401
    assert login_status(browser, server, user, PASSWORD) == 401


def test_export_the_open_conversation_as_markdown(context, page, user):
    conv = api_conversation(context, "Markdown me")
    api_turn(context, conv["id"], '[[fake reply="The **bold** answer\\n\\n- one\\n- two"]] first question')
    page.goto("/")
    page.locator(".empty-state").wait_for()
    assert page.get_by_test_id("export-markdown").count() == 0  # nothing to export on a blank chat
    page.goto(f"/c/{conv['id']}")
    page.locator(".msg-assistant").wait_for()
    button = page.get_by_role("button", name="Export as Markdown")
    with page.expect_download() as dl:
        button.click()
    download = dl.value
    assert download.suggested_filename.endswith(".md")
    text = open(download.path(), encoding="utf-8").read()
    assert text.startswith("# Markdown me")
    assert "## User" in text and "first question" in text
    assert "## Assistant" in text and "The **bold** answer" in text and "- two" in text
    assert text.index("## User") < text.index("first question") < text.index("## Assistant") < text.rindex("The **bold** answer")


def test_every_control_on_the_account_page_has_an_accessible_name(page, user):
    open_account(page)
    unnamed = page.evaluate("""() => [...document.querySelectorAll('button, a[href], input, select')]
        .filter(el => el.type !== 'hidden' && !el.hidden)
        .filter(el => !(el.getAttribute('aria-label') || el.labels?.[0]?.textContent.trim() || el.textContent.trim()))
        .map(el => el.outerHTML.slice(0, 120))""")
    assert unnamed == []


@pytest.mark.parametrize("variant", ["light", "dark", "zh-CN", "phone"])
def test_screenshots_of_the_account_page(browser, server, variant, tmp_path):
    kw = {"light": {"viewport": {"width": 1280, "height": 1500}},
          "dark": {"viewport": {"width": 1280, "height": 1500}, "color_scheme": "dark"},
          "zh-CN": {"viewport": {"width": 1280, "height": 1500}, "locale": "zh-CN"},
          "phone": {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}}[variant]
    ctx = make_context(browser, server, **kw)
    name = register(ctx, unique_name("mia"))
    extra = make_context(browser, server)
    login(extra, name)  # a second session to show
    page = ctx.new_page()
    watch = PageWatch(page)
    open_account(page)
    page.wait_for_function("document.querySelectorAll('.session').length === 2")
    path = tmp_path / "conversations.json"
    path.write_text(json.dumps(chatgpt_export()), encoding="utf-8")
    page.get_by_test_id("import-file").set_input_files(str(path))
    page.get_by_test_id("import-report").wait_for()
    if variant == "zh-CN":
        page.get_by_role("heading", name="活动会话").wait_for()
        assert "已从 ChatGPT 导出文件导入 1 个对话（6 条消息）。" in page.get_by_test_id("import-report").inner_text()
        assert "没有用户或助手的文字" in page.get_by_test_id("import-report").inner_text()
    page.evaluate("document.querySelector('.page-scroll').scrollTop = 0")
    shot(page, {"light": "16-account", "dark": "18-account-dark", "zh-CN": "19-account-zh", "phone": "20-account-phone"}[variant])
    if variant == "phone":
        page.get_by_test_id("open-drawer").click()
        page.get_by_test_id("account-link").wait_for()
        shot(page, "21-phone-drawer-account-link")
    watch.assert_clean()
    extra.close()
    ctx.close()
