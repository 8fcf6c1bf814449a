"""Register, log in, wrong password, taken name, logout, an expired session that keeps the unsent text."""
import pytest

from conftest import PASSWORD, PageWatch, make_context, register, start_chatbox, unique_name
from helpers import api_conversation, send, shot, wait_answer_status


def test_register_a_new_account_and_land_on_an_empty_chat(page):
    page.goto("/")
    page.wait_for_url("**/login")
    shot(page, "01-login")
    page.get_by_role("button", name="Sign up").click()
    page.get_by_role("heading", name="Create your account").wait_for()
    name = unique_name()
    page.get_by_label("Username").fill(name)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    page.wait_for_url(lambda url: url.endswith("/"))
    page.locator(".empty-state").wait_for()
    assert page.locator(".user-name").inner_text() == name
    assert page.get_by_role("heading", name="How can I help you today?").is_visible()
    shot(page, "02-empty-chat")


def test_log_in_and_see_a_clear_message_for_a_wrong_password(browser, server, page):
    other = make_context(browser, server)
    name = register(other)
    other.close()
    page.goto("/login")
    page.get_by_label("Username").fill(name)
    page.get_by_label("Password").fill("not-the-password")
    page.get_by_role("button", name="Log in").click()
    alert = page.get_by_role("alert")
    alert.wait_for()
    assert alert.inner_text() == "Wrong username or password."
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.locator(".empty-state").wait_for()
    assert page.locator(".user-name").inner_text() == name


def test_an_unknown_user_gets_the_same_message_as_a_wrong_password(page):
    page.goto("/login")
    page.get_by_label("Username").fill(unique_name("nobody"))
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    assert page.get_by_role("alert").inner_text() == "Wrong username or password."


def test_a_taken_username_is_reported(browser, server, page):
    other = make_context(browser, server)
    name = register(other)
    other.close()
    page.goto("/login")
    page.get_by_role("button", name="Sign up").click()
    page.get_by_label("Username").fill(name)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    assert page.get_by_role("alert").inner_text() == "That username is already taken."


def test_too_many_wrong_passwords_are_throttled_with_the_wait(browser, server, page):
    other = make_context(browser, server)
    name = register(other)
    other.close()
    page.goto("/login")
    page.get_by_label("Username").fill(name)
    page.get_by_label("Password").fill("wrong-password-1")
    button = page.get_by_role("button", name="Log in")
    text = ""
    for _ in range(12):
        if button.is_disabled():
            break
        button.click()
        page.get_by_role("alert").wait_for()
        page.wait_for_timeout(100)
        text = page.get_by_role("alert").inner_text()
        if text.startswith("Too many attempts"):
            break
    assert text.startswith("Too many attempts"), text
    assert "wait" in text
    assert button.is_disabled()  # until the wait is over


def test_log_out_returns_to_the_login_page(logged_in):
    page = logged_in
    page.get_by_test_id("logout").click()
    page.wait_for_url("**/login")
    page.goto("/")
    page.wait_for_url("**/login")  # the session really ended


def test_an_expired_session_asks_to_log_in_again_and_keeps_the_draft(context, page, user):
    conv = api_conversation(context, "Draft keeper")
    page.goto(f"/c/{conv['id']}")
    page.get_by_test_id("composer").fill("my long unsent question\nwith two lines")
    context.clear_cookies()  # the session is gone (expired or signed out elsewhere)
    page.get_by_test_id("composer").press("Enter")
    page.wait_for_url("**/login?next=*")
    assert "session has expired" in page.locator(".auth-note").inner_text()
    page.get_by_label("Username").fill(user)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"**/c/{conv['id']}")
    assert page.get_by_test_id("composer").input_value() == "my long unsent question\nwith two lines"
    # and it still sends
    page.get_by_test_id("composer").fill("[[fake reply=\"back again\"]] hello")
    page.get_by_test_id("composer").press("Enter")
    wait_answer_status(page, "completed")


def test_a_draft_survives_a_reload(logged_in):
    page = logged_in
    page.get_by_test_id("composer").fill("half-written thought")
    page.reload()
    page.locator(".empty-state").wait_for()
    assert page.get_by_test_id("composer").input_value() == "half-written thought"


@pytest.fixture(scope="module")
def closed_server():
    proc, base = start_chatbox("chatbox-closed", None, {"CHATBOX_REGISTRATION_OPEN": "false"})
    yield base
    proc.stop()


def test_closed_registration_is_explained_on_the_login_page(browser, closed_server):
    ctx = make_context(browser, closed_server)
    page = ctx.new_page()
    watch = PageWatch(page)
    page.goto("/")
    page.wait_for_url("**/login")
    page.get_by_text("Registration is closed on this server").wait_for()
    assert page.get_by_role("button", name="Sign up").count() == 0
    r = ctx.request.post("/api/auth/register", data={"username": unique_name(), "password": PASSWORD})
    assert r.status == 403
    watch.assert_clean()
    ctx.close()
