"""The admin page: create users, reset passwords, disable / enable, make / unmake admins, the last-admin rule, delete
with a confirmation that names the user, open / close registration, search and paging, and that only admins get in.
A server of its own (its first account, `root`, is the admin), so registration can be closed without touching the
other tests."""
import pytest

from conftest import PASSWORD, PageWatch, make_context, start_chatbox, unique_name
from helpers import api_json, shot

ADMIN = "root"


@pytest.fixture(scope="module")
def admin_server():
    proc, base = start_chatbox("chatbox-admin", None, admin=(ADMIN, PASSWORD))
    yield base
    proc.stop()


def login(ctx, username, password=PASSWORD):
    r = ctx.request.post("/api/auth/login", data={"username": username, "password": password})
    assert r.status == 200, f"login {username}: {r.status} {r.text()}"
    return r.json()["user"]


@pytest.fixture
def admin_ctx(browser, admin_server):
    ctx = make_context(browser, admin_server)
    login(ctx, ADMIN)
    yield ctx
    ctx.close()


@pytest.fixture
def admin_page(admin_ctx):
    page = admin_ctx.new_page()
    page.set_default_timeout(15000)
    page.watch = PageWatch(page)
    yield page
    page.watch.assert_clean()


class Browser:
    """Another person's browser on the admin server (its own cookies), closed at the end of the test."""

    def __init__(self, browser, base):
        self.browser, self.base, self.contexts = browser, base, []

    def new(self, **kw):
        ctx = make_context(self.browser, self.base, **kw)
        self.contexts.append(ctx)
        page = ctx.new_page()
        page.set_default_timeout(15000)
        page.watch = PageWatch(page)
        return ctx, page

    def close(self):
        for ctx in self.contexts:
            ctx.close()


@pytest.fixture
def others(browser, admin_server):
    b = Browser(browser, admin_server)
    yield b
    b.close()


def create_user(admin_ctx, role="user", name=None) -> dict:
    name = name or unique_name()
    return api_json(admin_ctx, "POST", "/api/admin/users", {"username": name, "password": PASSWORD, "role": role})["user"]


def open_admin(page):
    page.goto("/admin")
    page.get_by_test_id("users-table").wait_for()
    page.locator(".user-row").first.wait_for()


def row(page, username):
    return page.locator(f'.user-row[data-username="{username}"]')


def find_row(page, username):
    """Searches the table for one user and returns their row."""
    page.get_by_test_id("user-search").fill(username)
    r = row(page, username)
    r.wait_for()
    page.wait_for_function("(n) => document.querySelectorAll('.user-row').length === 1"
                           " && document.querySelector('.user-row').dataset.username === n", arg=username)
    return r


def act(page, username, item):
    """Opens the user's actions menu and picks an item."""
    r = find_row(page, username)
    r.get_by_role("button", name=f"Actions for {username}").click()
    page.get_by_role("menuitem", name=item).click()


def login_in_browser(page, username, password=PASSWORD):
    page.goto("/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()


def test_the_admin_creates_a_user_who_can_then_log_in(admin_page, others):
    page = admin_page
    page.goto("/")
    page.get_by_test_id("admin-link").click()  # the sidebar link only admins have
    page.wait_for_url("**/admin")
    page.get_by_role("heading", name="Admin").wait_for()
    name = unique_name("new")
    form = page.get_by_test_id("create-user")
    form.get_by_label("Username").fill(name)
    form.get_by_label("Password").fill(PASSWORD)
    assert form.get_by_label("Role").input_value() == "user"
    form.get_by_role("button", name="Create user").click()
    assert form.get_by_role("status").inner_text() == f"“{name}” was created and can log in now."
    r = find_row(page, name)
    assert r.get_by_test_id("role").inner_text() == "User"
    assert r.get_by_test_id("status").inner_text() == "Active"
    assert r.get_by_test_id("conversations").inner_text() == "0"
    assert "Never" in r.inner_text()
    # the same name again: the server's refusal is shown
    form.get_by_label("Username").fill(name)
    form.get_by_label("Password").fill(PASSWORD)
    form.get_by_role("button", name="Create user").click()
    assert "taken" in form.get_by_role("alert").inner_text()
    # a password the rules refuse
    form.get_by_label("Username").fill(unique_name("short"))
    form.get_by_label("Password").fill("x")
    form.get_by_role("button", name="Create user").click()
    assert form.get_by_role("alert").inner_text().strip() != ""
    # the new user logs in
    _, user_page = others.new()
    login_in_browser(user_page, name)
    user_page.locator(".empty-state").wait_for()
    assert user_page.locator(".user-name").inner_text() == name
    assert user_page.get_by_test_id("admin-link").count() == 0  # not an admin
    user_page.watch.assert_clean()


def test_an_admin_can_create_another_admin(admin_ctx, admin_page):
    page = admin_page
    open_admin(page)
    name = unique_name("adm")
    form = page.get_by_test_id("create-user")
    form.get_by_label("Username").fill(name)
    form.get_by_label("Password").fill(PASSWORD)
    form.get_by_label("Role").select_option("admin")
    form.get_by_role("button", name="Create user").click()
    form.get_by_role("status").wait_for()
    assert find_row(page, name).get_by_test_id("role").inner_text() == "Admin"
    user = next(u for u in api_json(admin_ctx, "GET", f"/api/admin/users?q={name}")["users"] if u["username"] == name)
    api_json(admin_ctx, "DELETE", f"/api/admin/users/{user['id']}?confirm={name}")


def test_reset_password_signs_the_user_out_and_only_the_new_password_works(admin_ctx, admin_page, others):
    user = create_user(admin_ctx)
    name = user["username"]
    user_ctx, user_page = others.new()
    login(user_ctx, name)
    user_page.goto("/")
    user_page.locator(".empty-state").wait_for()

    page = admin_page
    open_admin(page)
    act(page, name, "Reset password")
    dialog = page.get_by_role("dialog", name=f"Reset the password of “{name}”")
    dialog.get_by_label("New password").fill("brand-new-password-7")
    dialog.get_by_role("button", name="Set password").click()
    dialog.wait_for(state="detached")
    page.get_by_text(f"The password of “{name}” was reset").wait_for()

    # the user's open session is refused: their page asks them to log in again
    assert user_ctx.request.get("/api/auth/me").status == 401
    user_page.get_by_test_id("search").fill("anything")  # any request now
    user_page.wait_for_url("**/login**")
    user_page.locator(".auth-note").wait_for()
    # the old password no longer works, the new one does
    user_page.get_by_label("Username").fill(name)
    user_page.get_by_label("Password").fill(PASSWORD)
    user_page.get_by_role("button", name="Log in").click()
    assert user_page.get_by_role("alert").inner_text() == "Wrong username or password."
    user_page.get_by_label("Password").fill("brand-new-password-7")
    user_page.get_by_role("button", name="Log in").click()
    user_page.locator(".user-name").wait_for()
    assert user_page.locator(".user-name").inner_text() == name
    user_page.watch.assert_clean()


def test_disable_refuses_the_live_session_at_once_and_enable_lets_the_user_back(admin_ctx, admin_page, others):
    user = create_user(admin_ctx)
    name = user["username"]
    user_ctx, user_page = others.new()
    login(user_ctx, name)
    conv = api_json(user_ctx, "POST", "/api/conversations", {"title": "Before the ban"})["conversation"]
    user_page.goto(f"/c/{conv['id']}")
    user_page.get_by_test_id("composer").wait_for()

    page = admin_page
    open_admin(page)
    act(page, name, "Disable")
    r = row(page, name)
    page.wait_for_function("(n) => document.querySelector(`.user-row[data-username='${n}'] [data-testid=status]`)"
                           "?.textContent.trim() === 'Disabled'", arg=name)
    assert r.get_by_test_id("conversations").inner_text() == "1"

    # at once: the next request of the open page is refused and the page asks to log in
    assert user_ctx.request.get("/api/auth/me").status == 401
    user_page.get_by_test_id("composer").fill("still there?")
    user_page.get_by_test_id("composer").press("Enter")
    user_page.wait_for_url("**/login?next=*")
    user_page.get_by_label("Username").fill(name)
    user_page.get_by_label("Password").fill(PASSWORD)
    user_page.get_by_role("button", name="Log in").click()
    assert user_page.get_by_role("alert").inner_text() == "Wrong username or password."

    # enable again: the same password works, and the unsent text is still there
    act(page, name, "Enable")
    page.wait_for_function("(n) => document.querySelector(`.user-row[data-username='${n}'] [data-testid=status]`)"
                           "?.textContent.trim() === 'Active'", arg=name)
    user_page.get_by_role("button", name="Log in").click()
    user_page.wait_for_url(f"**/c/{conv['id']}")
    assert user_page.get_by_test_id("composer").input_value() == "still there?"
    # and the state survives a reload of the admin page
    page.reload()
    assert find_row(page, name).get_by_test_id("status").inner_text() == "Active"
    user_page.watch.assert_clean()


def test_make_and_unmake_an_admin(admin_ctx, admin_page, others):
    user = create_user(admin_ctx)
    name = user["username"]
    user_ctx, user_page = others.new()
    login(user_ctx, name)
    assert user_ctx.request.get("/api/admin/users").status == 403

    page = admin_page
    open_admin(page)
    act(page, name, "Make admin")
    page.wait_for_function("(n) => document.querySelector(`.user-row[data-username='${n}'] [data-testid=role]`)"
                           "?.textContent.trim() === 'Admin'", arg=name)
    assert user_ctx.request.get("/api/admin/users").status == 200
    user_page.goto("/admin")  # the new admin sees the page and the link to it
    user_page.get_by_test_id("users-table").wait_for()
    assert user_page.get_by_test_id("admin-link").is_visible()

    act(page, name, "Remove admin")
    page.wait_for_function("(n) => document.querySelector(`.user-row[data-username='${n}'] [data-testid=role]`)"
                           "?.textContent.trim() === 'User'", arg=name)
    assert user_ctx.request.get("/api/admin/users").status == 403
    user_page.reload()
    user_page.get_by_test_id("admin-forbidden").wait_for()
    assert user_page.get_by_test_id("admin-link").count() == 0
    user_page.watch.assert_clean()


def demote_all_but_root(admin_ctx):
    for u in api_json(admin_ctx, "GET", "/api/admin/users?limit=100")["users"]:
        if u["role"] == "admin" and u["username"] != ADMIN:
            api_json(admin_ctx, "PATCH", f"/api/admin/users/{u['id']}", {"role": "user"})


def test_the_last_admin_cannot_be_demoted_disabled_or_deleted(admin_ctx, admin_page):
    demote_all_but_root(admin_ctx)
    page = admin_page
    open_admin(page)
    # demote myself: asked first (it takes my own rights away), then refused by the server
    act(page, ADMIN, "Remove admin")
    confirm = page.get_by_role("alertdialog", name="Remove your own admin rights?")
    confirm.get_by_role("button", name="Remove admin").click()
    error = page.get_by_test_id("admin-error")
    error.wait_for()
    assert "There must always be an admin" in error.inner_text()
    assert row(page, ADMIN).get_by_test_id("role").inner_text() == "Admin"
    error.get_by_role("button", name="Close").click()
    # disable myself
    act(page, ADMIN, "Disable")
    page.get_by_role("alertdialog", name="Disable your own account?").get_by_role("button", name="Disable").click()
    assert "There must always be an admin" in page.get_by_test_id("admin-error").inner_text()
    assert row(page, ADMIN).get_by_test_id("status").inner_text() == "Active"
    # delete myself
    act(page, ADMIN, "Delete user…")
    dialog = page.get_by_role("alertdialog", name=f"Delete the user “{ADMIN}”?")
    dialog.get_by_label(f"Type {ADMIN} to confirm").fill(ADMIN)
    dialog.get_by_role("button", name="Delete user").click()
    assert "There must always be an admin" in dialog.get_by_role("alert").inner_text()
    shot(page, "14-admin-last-admin-refused")
    dialog.get_by_role("button", name="Cancel").click()
    # still the admin
    assert page.evaluate("fetch('/api/admin/users').then(r => r.status)") == 200


def test_delete_a_user_after_a_confirmation_that_names_them(admin_ctx, admin_page, others):
    user = create_user(admin_ctx)
    name = user["username"]
    user_ctx, _ = others.new()
    login(user_ctx, name)
    for title in ("One", "Two"):
        api_json(user_ctx, "POST", "/api/conversations", {"title": title})
    # the API refuses a confirmation that is not their exact name
    r = admin_ctx.request.delete(f"/api/admin/users/{user['id']}?confirm=someone-else")
    assert r.status == 422

    page = admin_page
    open_admin(page)
    assert find_row(page, name).get_by_test_id("conversations").inner_text() == "2"
    act(page, name, "Delete user…")
    dialog = page.get_by_role("alertdialog", name=f"Delete the user “{name}”?")
    assert f"The account “{name}” will be deleted with its 2 chats" in dialog.inner_text()
    delete = dialog.get_by_role("button", name="Delete user")
    assert delete.is_disabled()
    field = dialog.get_by_label(f"Type {name} to confirm")
    field.fill(name[:-1])
    assert delete.is_disabled()
    shot(page, "13-admin-delete-dialog")
    # Esc cancels and nothing happens
    field.press("Escape")
    dialog.wait_for(state="detached")
    assert row(page, name).count() == 1
    act(page, name, "Delete user…")
    dialog.get_by_label(f"Type {name} to confirm").fill(name)
    dialog.get_by_role("button", name="Delete user").click()
    dialog.wait_for(state="detached")
    page.get_by_text(f"“{name}” was deleted.").wait_for()
    assert row(page, name).count() == 0
    assert page.get_by_text(f"No users match “{name}”.").is_visible()
    # gone on the server: the list, their session, their login
    assert all(u["username"] != name for u in api_json(admin_ctx, "GET", f"/api/admin/users?q={name}")["users"])
    assert user_ctx.request.get("/api/conversations").status == 401
    r = user_ctx.request.post("/api/auth/login", data={"username": name, "password": PASSWORD})
    assert r.status == 401


def test_closing_registration_hides_the_sign_up_form_and_persists(admin_ctx, admin_page, others):
    page = admin_page
    open_admin(page)
    toggle = page.get_by_role("switch", name="Anyone can sign up")
    toggle.wait_for()
    page.wait_for_function("!document.querySelector('[data-testid=registration-toggle]').disabled")
    assert toggle.is_checked()
    try:
        toggle.click()
        page.get_by_text("Closed: only an admin can create accounts").wait_for()
        assert not toggle.is_checked()
        # a visitor sees no sign-up form, and a clear sentence instead
        visitor_ctx, visitor = others.new()
        visitor.goto("/login")
        visitor.get_by_text("Registration is closed on this server").wait_for()
        assert visitor.get_by_role("button", name="Sign up").count() == 0
        r = visitor_ctx.request.post("/api/auth/register", data={"username": unique_name(), "password": PASSWORD})
        assert r.status == 403
        # persisted: a reload of the admin page and the public config say closed
        page.reload()
        page.get_by_text("Closed: only an admin can create accounts").wait_for()
        page.wait_for_function("!document.querySelector('[data-testid=registration-toggle]').disabled")
        assert not page.get_by_role("switch", name="Anyone can sign up").is_checked()
        assert api_json(admin_ctx, "GET", "/api/config")["registration_open"] is False
        assert api_json(admin_ctx, "GET", "/api/admin/settings") == {"registration_open": False}
        # an admin can still create accounts
        create_user(admin_ctx)
        # open again: the visitor can sign up
        page.get_by_role("switch", name="Anyone can sign up").click()
        page.get_by_text("Open: anyone who can reach this server").wait_for()
        visitor.reload()
        visitor.get_by_role("button", name="Sign up").click()
        visitor.get_by_label("Username").fill(unique_name())
        visitor.get_by_label("Password").fill(PASSWORD)
        visitor.get_by_role("button", name="Create account").click()
        visitor.locator(".empty-state").wait_for()
        visitor.watch.assert_clean()
    finally:
        api_json(admin_ctx, "PATCH", "/api/admin/settings", {"registration_open": True})


def test_a_non_admin_cannot_open_the_admin_page_and_the_api_refuses(admin_ctx, browser, admin_server, others):
    user = create_user(admin_ctx)
    user_ctx, user_page = others.new()
    login(user_ctx, user["username"])
    user_page.goto("/")
    user_page.locator(".empty-state").wait_for()
    assert user_page.get_by_test_id("admin-link").count() == 0
    user_page.goto("/admin")
    note = user_page.get_by_test_id("admin-forbidden")
    note.wait_for()
    assert "for administrators only" in note.inner_text()
    assert user_page.get_by_test_id("users-table").count() == 0
    for method, path, body in [("GET", "/api/admin/users", None), ("POST", "/api/admin/users", {"username": "x1", "password": PASSWORD}),
                               ("PATCH", f"/api/admin/users/{user['id']}", {"role": "admin"}),
                               ("POST", f"/api/admin/users/{user['id']}/password", {"password": PASSWORD}),
                               ("DELETE", f"/api/admin/users/{user['id']}?confirm={user['username']}", {}),
                               ("GET", "/api/admin/settings", None), ("PATCH", "/api/admin/settings", {"registration_open": False})]:
        r = user_ctx.request.fetch(path, method=method, data=None if body is None else body)
        assert r.status == 403, f"{method} {path}: {r.status}"
        assert r.json()["error"]["message"]
    # signed out: 401
    anon = make_context(browser, admin_server)
    assert anon.request.get("/api/admin/users").status == 401
    anon.close()
    user_page.watch.assert_clean()


def test_search_and_paging_through_many_users(admin_ctx, admin_page):
    prefix = unique_name("pg")[:8]
    names = [f"{prefix}{i:03d}" for i in range(65)]
    for n in names:
        create_user(admin_ctx, name=n)
    page = admin_page
    open_admin(page)
    page.get_by_test_id("user-search").fill(prefix)
    page.wait_for_function("(p) => [...document.querySelectorAll('.user-row')].length > 0 &&"
                           " [...document.querySelectorAll('.user-row')].every(r => r.dataset.username.startsWith(p))", arg=prefix)
    # the first page is 50; scrolling to the end of the table loads the rest
    page.wait_for_function("document.querySelectorAll('.user-row').length >= 50")
    page.locator(".user-row").last.scroll_into_view_if_needed()
    page.wait_for_function("document.querySelectorAll('.user-row').length === 65", timeout=10000)
    assert [r.get_attribute("data-username") for r in page.locator(".user-row").all()] == names
    assert page.get_by_test_id("load-more-users").count() == 0
    # a narrower search
    page.get_by_test_id("user-search").fill(f"{prefix}06")
    page.wait_for_function("document.querySelectorAll('.user-row').length === 5")
    page.get_by_test_id("user-search").fill(unique_name("nobody"))
    page.get_by_text("No users match").wait_for()


def test_the_actions_menu_works_from_the_keyboard(admin_ctx, admin_page):
    user = create_user(admin_ctx)
    name = user["username"]
    page = admin_page
    open_admin(page)
    r = find_row(page, name)
    button = r.get_by_role("button", name=f"Actions for {name}")
    button.focus()
    page.keyboard.press("Enter")
    menu = page.get_by_role("menu", name=f"Actions for {name}")
    menu.wait_for()
    assert page.evaluate("document.activeElement.textContent.trim()") == "Reset password"
    page.keyboard.press("ArrowDown")
    assert page.evaluate("document.activeElement.textContent.trim()") == "Disable"
    page.keyboard.press("Escape")
    menu.wait_for(state="detached")
    assert page.evaluate("document.activeElement.getAttribute('aria-label')") == f"Actions for {name}"
    page.keyboard.press("Enter")
    page.keyboard.press("End")
    assert page.evaluate("document.activeElement.textContent.trim()") == "Delete user…"
    page.keyboard.press("Enter")
    page.get_by_role("alertdialog", name=f"Delete the user “{name}”?").wait_for()
    page.keyboard.press("Escape")
    page.get_by_role("alertdialog").wait_for(state="detached")


def test_every_control_on_the_admin_page_has_an_accessible_name(admin_page):
    page = admin_page
    open_admin(page)
    unnamed = page.evaluate("""() => [...document.querySelectorAll('button, a[href], input, select')]
        .filter(el => el.type !== 'hidden' && !el.hidden)
        .filter(el => !(el.getAttribute('aria-label') || el.labels?.[0]?.textContent.trim() || el.textContent.trim()))
        .map(el => el.outerHTML.slice(0, 120))""")
    assert unnamed == []


@pytest.mark.parametrize("variant", ["light", "dark", "zh-CN", "phone"])
def test_screenshots_of_the_admin_page(browser, admin_server, admin_ctx, variant):
    demote_all_but_root(admin_ctx)
    disabled = create_user(admin_ctx, name=unique_name("zoe"))
    api_json(admin_ctx, "PATCH", f"/api/admin/users/{disabled['id']}", {"disabled": True})
    kw = {"light": {}, "dark": {"color_scheme": "dark"}, "zh-CN": {"locale": "zh-CN"},
          "phone": {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}}[variant]
    ctx = make_context(browser, admin_server, **kw)
    login(ctx, ADMIN)
    page = ctx.new_page()
    watch = PageWatch(page)
    open_admin(page)
    page.get_by_test_id("user-search").fill("")
    if variant == "zh-CN":
        page.get_by_role("heading", name="创建用户").wait_for()
        assert page.get_by_role("switch", name="允许任何人注册").count() == 1
    shot(page, {"light": "10-admin", "dark": "11-admin-dark", "zh-CN": "12-admin-zh", "phone": "15-admin-phone"}[variant])
    if variant == "dark":
        assert page.evaluate("document.documentElement.dataset.theme") == "dark"
        find_row(page, disabled["username"]).get_by_role("button", name=f"Actions for {disabled['username']}").click()
        page.get_by_role("menu").wait_for()
        shot(page, "11b-admin-dark-menu")
        page.keyboard.press("Escape")
    watch.assert_clean()
    ctx.close()
