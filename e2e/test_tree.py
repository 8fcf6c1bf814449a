"""A conversation is a tree: edit a question (a new version), flip versions (‹ 2/3 ›), regenerate an older answer
(a version beside it), the path kept across a reload, and a search hit opened on a branch that is not selected."""
import time

from helpers import api_json, current_conversation_id, send, shot, wait_answer_status


def shown(page):
    """The path shown: [(role, data-id, text of a question)]."""
    return page.evaluate("""() => [...document.querySelectorAll('.messages .msg')].map(m => [
        m.classList.contains('msg-user') ? 'user' : 'assistant', m.dataset.id,
        m.classList.contains('msg-user') ? (m.querySelector('.bubble')?.innerText ?? '') : ''])""")


def questions(page):
    return [text for role, _, text in shown(page) if role == "user"]


def versions(msg):
    return msg.get_by_test_id("version-count").inner_text()


def wait_leaf(context, conv_id, leaf_id, timeout=10):
    """The server remembers `leaf_id` as the conversation's selected path (the page PATCHed it)."""
    deadline = time.time() + timeout
    current = None
    while time.time() < deadline:
        current = api_json(context, "GET", f"/api/conversations/{conv_id}")["conversation"]["current_leaf_id"]
        if str(current) == str(leaf_id):
            return
        time.sleep(0.1)
    raise AssertionError(f"current_leaf_id is {current}, expected {leaf_id}")


def wait_questions(page, expected):
    page.wait_for_function(
        """(want) => JSON.stringify([...document.querySelectorAll('.messages .msg-user .bubble')].map(b => b.innerText)) === JSON.stringify(want)""",
        arg=expected)


def test_edit_flip_regenerate_reload_and_open_a_search_hit_on_another_branch(context, logged_in):
    page = logged_in
    send(page, "alpha one")
    wait_answer_status(page, "completed")
    send(page, "beta two")
    wait_answer_status(page, "completed")
    conv_id = current_conversation_id(page)
    first_path = shown(page)
    assert [r for r, _, _ in first_path] == ["user", "assistant", "user", "assistant"]
    assert page.get_by_test_id("versions").count() == 0  # no versions yet

    # Edit the first question: a new version, answered; the old one and its answers stay as version 1.
    first = page.locator(".msg-user").first
    first.hover()
    first.get_by_test_id("edit-question").click()
    editor = page.get_by_test_id("question-editor-input")
    assert editor.input_value() == "alpha one"
    editor.fill("alpha zebra edited")
    editor.scroll_into_view_if_needed()
    shot(page, "30-tree-edit-question")
    page.get_by_test_id("edit-save").click()
    wait_questions(page, ["alpha zebra edited"])
    wait_answer_status(page, "completed")
    assert page.get_by_test_id("question-editor").count() == 0
    edited_path = shown(page)
    assert len(edited_path) == 2
    assert versions(page.locator(".msg-user").first) == "2/2"
    stored = api_json(context, "GET", f"/api/conversations/{conv_id}")
    by_id = {str(m["id"]): m for m in stored["messages"]}
    assert by_id[edited_path[0][1]]["parent_id"] is None  # a new version of the first question
    assert str(stored["conversation"]["current_leaf_id"]) == edited_path[1][1]
    assert len(stored["messages"]) == 6  # nothing deleted

    # ‹ : back to the first version, with its whole path (its newest leaf), remembered on the server.
    page.locator(".msg-user").first.get_by_test_id("version-prev").click()
    wait_questions(page, ["alpha one", "beta two"])
    assert [i for _, i, _ in shown(page)] == [i for _, i, _ in first_path]
    assert versions(page.locator(".msg-user").first) == "1/2"
    wait_leaf(context, conv_id, first_path[3][1])
    page.locator(".msg-user").first.get_by_test_id("versions").scroll_into_view_if_needed()
    shot(page, "31-tree-versions")

    # Regenerate the older answer (not the last): a new answer beside it; the old one keeps its follow-up.
    older = page.locator(".msg-assistant").first
    older.hover()
    older.get_by_test_id("regenerate").click()
    page.wait_for_function("document.querySelectorAll('.messages .msg').length === 2")
    wait_answer_status(page, "completed")
    regen_path = shown(page)
    assert regen_path[0][1] == first_path[0][1] and regen_path[1][1] not in (first_path[1][1],)
    assert versions(page.locator(".msg-assistant").first) == "2/2"
    wait_leaf(context, conv_id, regen_path[1][1])
    stored = api_json(context, "GET", f"/api/conversations/{conv_id}")
    assert len(stored["messages"]) == 7
    assert str({str(m["id"]): m for m in stored["messages"]}[regen_path[1][1]]["parent_id"]) == first_path[0][1]

    # ‹ on the answer: the first answer again, with "beta two" under it.
    page.locator(".msg-assistant").first.get_by_test_id("version-prev").click()
    wait_questions(page, ["alpha one", "beta two"])
    assert versions(page.locator(".msg-assistant").first) == "1/2"
    wait_leaf(context, conv_id, first_path[3][1])

    # A reload (or another device) shows the same path.
    page.reload()
    wait_questions(page, ["alpha one", "beta two"])
    assert [i for _, i, _ in shown(page)] == [i for _, i, _ in first_path]
    assert versions(page.locator(".msg-user").first) == "1/2"
    assert versions(page.locator(".msg-assistant").first) == "1/2"

    # Search finds the edited version (not selected): its result opens the conversation on that branch.
    page.get_by_test_id("search").fill("zebra")
    link = page.locator(f'.conv-item[data-id="{conv_id}"][data-match] .conv-link')  # the search's result
    link.wait_for()
    link.click()
    wait_questions(page, ["alpha zebra edited"])
    assert [i for _, i, _ in shown(page)] == [i for _, i, _ in edited_path]
    wait_leaf(context, conv_id, edited_path[1][1])
    shot(page, "32-tree-search-hit-branch")


def test_a_search_hit_opens_its_branch_from_another_conversation(context, logged_in):
    page = logged_in
    send(page, "first question about otters")
    wait_answer_status(page, "completed")
    conv_id = current_conversation_id(page)
    question = page.locator(".msg-user").first
    question.hover()
    question.get_by_test_id("edit-question").click()
    page.get_by_test_id("question-editor-input").fill("second question about quokkas")
    page.get_by_test_id("edit-save").click()
    wait_questions(page, ["second question about quokkas"])
    wait_answer_status(page, "completed")
    page.locator(".msg-user").first.get_by_test_id("version-prev").click()
    wait_questions(page, ["first question about otters"])
    page.goto("/")  # another page first: the hit opens a conversation that is not loaded
    page.wait_for_selector(".empty-state")
    page.get_by_test_id("search").fill("quokkas")
    page.locator(f'.conv-item[data-id="{conv_id}"][data-match] .conv-link').click()
    wait_questions(page, ["second question about quokkas"])
    assert versions(page.locator(".msg-user").first) == "2/2"


def test_edit_cancel_and_escape_leave_the_question_as_it_was(logged_in):
    page = logged_in
    send(page, "keep me")
    wait_answer_status(page, "completed")
    question = page.locator(".msg-user").first
    question.hover()
    question.get_by_test_id("edit-question").click()
    page.get_by_test_id("question-editor-input").fill("changed")
    page.get_by_test_id("edit-cancel").click()
    assert questions(page) == ["keep me"]
    question.hover()
    question.get_by_test_id("edit-question").click()
    page.get_by_test_id("question-editor-input").press("Escape")
    assert page.get_by_test_id("question-editor").count() == 0
    assert questions(page) == ["keep me"] and page.get_by_test_id("versions").count() == 0


def test_reloading_while_an_edited_version_streams_reattaches_on_that_branch(context, logged_in):
    page = logged_in
    send(page, "[[fake tokens=3]] root question")
    wait_answer_status(page, "completed")
    send(page, "[[fake tokens=3]] second question")
    wait_answer_status(page, "completed")
    conv_id = current_conversation_id(page)
    second = page.locator(".msg-user").nth(1)
    second.hover()
    second.get_by_test_id("edit-question").click()
    page.get_by_test_id("question-editor-input").fill("[[fake tokens=120 delay_ms=50]] second, edited")
    page.get_by_test_id("edit-save").click()
    page.wait_for_function("document.querySelector('.msg-assistant:last-child .md')?.textContent.includes('word15')")
    page.reload()
    page.wait_for_url(f"**/c/{conv_id}")
    page.locator(".md.streaming").wait_for()  # live again after the reload, on the edited branch
    wait_answer_status(page, "completed")
    assert page.locator(".msg-assistant").last.inner_text().count("word120") == 1
    assert questions(page) == ["[[fake tokens=3]] root question", "[[fake tokens=120 delay_ms=50]] second, edited"]
    assert versions(page.locator(".msg-user").nth(1)) == "2/2"
    assert page.locator(".msg-user").first.get_by_test_id("versions").count() == 0  # the first question has one version
    stored = api_json(context, "GET", f"/api/conversations/{conv_id}")
    assert len(stored["messages"]) == 6
    # the old version is still there, under the same first answer
    page.locator(".msg-user").nth(1).get_by_test_id("version-prev").click()
    wait_questions(page, ["[[fake tokens=3]] root question", "[[fake tokens=3]] second question"])


def test_versions_and_the_editor_in_chinese(logged_in):
    page = logged_in
    page.get_by_test_id("language").select_option("zh-CN")
    send(page, "[[fake tokens=4]] 你好")
    wait_answer_status(page, "completed")
    answer = page.locator(".msg-assistant").last
    answer.hover()
    answer.get_by_role("button", name="重新生成", exact=True).click()
    page.wait_for_function("document.querySelector('.msg-assistant [data-testid=version-count]')?.innerText === '2/2'")
    switch = page.locator(".msg-assistant").last.get_by_test_id("versions")
    assert switch.get_attribute("aria-label") == "第 2 个版本，共 2 个"
    assert switch.get_by_role("button", name="上一个版本").is_visible()
    question = page.locator(".msg-user").first
    question.hover()
    question.get_by_role("button", name="编辑").click()
    page.get_by_role("button", name="保存并发送").wait_for()
    shot(page, "33-tree-chinese")
    page.get_by_role("button", name="取消").click()
    page.get_by_test_id("language").select_option("en")
