"""Chinese UI, the demo banner, dark theme, the phone drawer, accessible labels."""
from conftest import PASSWORD, PageWatch, make_context, register, unique_name
from helpers import api_conversation, send, shot, wait_answer_status


def test_the_chinese_ui_follows_the_browser_language(browser, server):
    ctx = make_context(browser, server, locale="zh-CN")
    page = ctx.new_page()
    watch = PageWatch(page)
    page.goto("/")
    page.get_by_role("heading", name="欢迎回来").wait_for()
    assert page.evaluate("document.documentElement.lang") == "zh-CN"
    page.get_by_role("button", name="注册").click()
    page.get_by_label("用户名").fill(unique_name())
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="创建账号").click()
    page.get_by_role("heading", name="今天有什么可以帮你？").wait_for()
    assert page.get_by_test_id("new-chat").inner_text().startswith("新对话")
    assert page.get_by_test_id("composer").get_attribute("placeholder") == "给 Chatbox 发送消息"
    send(page, "你好，请介绍一下你自己")
    wait_answer_status(page, "completed")
    page.locator(".conv-group-title", has_text="今天").wait_for()
    assert page.get_by_role("button", name="复制代码").count() == 1
    shot(page, "04-chinese-ui")
    watch.assert_clean()
    ctx.close()


def test_the_language_switch_is_remembered(logged_in):
    page = logged_in
    page.get_by_test_id("language").select_option("zh-CN")
    page.get_by_role("heading", name="今天有什么可以帮你？").wait_for()
    page.reload()
    page.get_by_role("heading", name="今天有什么可以帮你？").wait_for()
    page.get_by_test_id("language").select_option("en")
    page.get_by_role("heading", name="How can I help you today?").wait_for()


def test_the_demo_model_banner_explains_how_to_configure_a_real_model(browser, demo_server):
    ctx = make_context(browser, demo_server)
    page = ctx.new_page()
    watch = PageWatch(page)
    register(ctx)
    page.goto("/")
    banner = page.get_by_test_id("demo-banner")
    banner.wait_for()
    text = banner.inner_text()
    assert "demo model" in text and "CHATBOX_LLM_BASE_URL" in text
    send(page, "What can you do?")
    wait_answer_status(page, "completed", timeout=60000)
    shot(page, "05-demo-banner")
    banner.get_by_role("button", name="Hide this notice").click()
    assert page.get_by_test_id("demo-banner").count() == 0
    watch.assert_clean()
    ctx.close()


def test_no_demo_banner_with_a_real_model(logged_in):
    page = logged_in
    page.wait_for_timeout(200)
    assert page.get_by_test_id("demo-banner").count() == 0


def test_dark_theme_follows_the_system_and_the_toggle(browser, server):
    ctx = make_context(browser, server, color_scheme="dark")
    page = ctx.new_page()
    watch = PageWatch(page)
    register(ctx)
    page.goto("/")
    page.locator(".empty-state").wait_for()
    assert page.evaluate("document.documentElement.dataset.theme") == "dark"
    send(page, "Dark mode sample")
    wait_answer_status(page, "completed")
    page.wait_for_function("document.querySelector('.msg-assistant .katex') && document.querySelector('.hljs-keyword')")
    shot(page, "06-dark-theme")
    toggle = page.get_by_test_id("theme-toggle")
    assert toggle.get_attribute("aria-label") == "Theme: system"
    toggle.click()  # system → dark
    toggle.click()  # dark → light
    assert page.evaluate("document.documentElement.dataset.theme") == "light"
    page.reload()
    page.locator(".msg-assistant").wait_for()
    assert page.evaluate("document.documentElement.dataset.theme") == "light"  # remembered
    watch.assert_clean()
    ctx.close()


def test_phone_layout_uses_a_drawer_for_the_sidebar(browser, server):
    ctx = make_context(browser, server, viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    page = ctx.new_page()
    watch = PageWatch(page)
    register(ctx)
    conv = api_conversation(ctx, "Phone chat")
    page.goto("/")
    page.locator(".empty-state").wait_for()
    sidebar = page.locator(".sidebar")
    assert sidebar.bounding_box()["x"] + sidebar.bounding_box()["width"] <= 1  # off screen
    send(page, "Hello from a phone")
    wait_answer_status(page, "completed")
    shot(page, "08-phone-chat")
    page.get_by_test_id("open-drawer").click()
    page.wait_for_function("document.querySelector('.sidebar').getBoundingClientRect().x >= 0")
    page.wait_for_timeout(300)
    shot(page, "09-phone-drawer")
    page.locator(f'.conv-item[data-id="{conv["id"]}"] .conv-link').click()
    page.wait_for_url(f"**/c/{conv['id']}")
    page.wait_for_function("document.querySelector('.sidebar').getBoundingClientRect().right <= 1")
    watch.assert_clean()
    ctx.close()


def test_every_button_has_an_accessible_name(logged_in):
    page = logged_in
    send(page, '[[fake reply="Some **answer**\\n\\n```js\\nlet a = 1\\n```"]] hi')
    wait_answer_status(page, "completed")
    unnamed = page.evaluate("""() => [...document.querySelectorAll('button')]
        .filter(b => !(b.getAttribute('aria-label') || b.textContent.trim()))
        .map(b => b.outerHTML.slice(0, 120))""")
    assert unnamed == []
