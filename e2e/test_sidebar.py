"""The sidebar: grouping, rename in place, delete with confirmation, search, infinite scroll."""
from helpers import api_conversation, sidebar_titles


def test_conversations_are_listed_newest_first_under_today(context, page, user):
    for title in ["First topic", "Second topic", "Third topic"]:
        api_conversation(context, title)
    page.goto("/")
    page.locator(".conv-link").first.wait_for()
    assert sidebar_titles(page)[:3] == ["Third topic", "Second topic", "First topic"]
    assert page.locator(".conv-group-title").first.inner_text() == "Today"


def test_rename_a_conversation_in_place(context, page, user):
    conv = api_conversation(context, "Old name")
    page.goto(f"/c/{conv['id']}")
    item = page.locator(f'.conv-item[data-id="{conv["id"]}"]')
    item.hover()
    item.get_by_role("button", name="Rename").click()
    field = page.get_by_label("Chat title")
    assert field.input_value() == "Old name"
    field.fill("Shiny new name")
    field.press("Enter")
    page.wait_for_function(
        "(id) => document.querySelector(`.conv-item[data-id='${id}'] .conv-link`)?.textContent.trim() === 'Shiny new name'",
        arg=str(conv["id"]))
    assert page.locator(".chat-title").inner_text() == "Shiny new name"
    page.reload()  # stored
    page.locator(f'.conv-item[data-id="{conv["id"]}"] .conv-link').wait_for()
    assert page.locator(f'.conv-item[data-id="{conv["id"]}"] .conv-link').inner_text() == "Shiny new name"
    # Esc cancels an edit
    item = page.locator(f'.conv-item[data-id="{conv["id"]}"]')
    item.hover()
    item.get_by_role("button", name="Rename").click()
    page.get_by_label("Chat title").fill("Not this")
    page.get_by_label("Chat title").press("Escape")
    assert item.locator(".conv-link").inner_text() == "Shiny new name"


def test_delete_a_conversation_after_confirming(context, page, user):
    keep = api_conversation(context, "Keep me")
    drop = api_conversation(context, "Delete me")
    page.goto(f"/c/{drop['id']}")
    item = page.locator(f'.conv-item[data-id="{drop["id"]}"]')
    item.hover()
    item.get_by_role("button", name="Delete").click()
    dialog = page.get_by_role("alertdialog")
    assert "Delete me" in dialog.inner_text()
    dialog.get_by_role("button", name="Cancel").click()
    assert item.is_visible()
    item.hover()
    item.get_by_role("button", name="Delete").click()
    page.get_by_role("alertdialog").get_by_role("button", name="Delete").click()
    item.wait_for(state="detached")
    page.wait_for_url(lambda u: u.endswith("/"))  # it was open: back to a new chat
    assert "Delete me" not in sidebar_titles(page)
    assert "Keep me" in sidebar_titles(page)
    page.goto(f"/c/{drop['id']}")
    page.get_by_text("This chat does not exist, or it is not yours.").wait_for()
    assert keep  # still there


def test_search_filters_the_list_on_the_server(context, page, user):
    for title in ["Recipe for bread", "Trip to Kyoto", "Bread machines compared", "Tax questions"]:
        api_conversation(context, title)
    page.goto("/")
    page.locator(".conv-link").first.wait_for()
    page.get_by_test_id("search").fill("bread")
    page.wait_for_function("document.querySelectorAll('.conv-link').length === 2")
    assert sorted(sidebar_titles(page)) == ["Bread machines compared", "Recipe for bread"]
    page.get_by_test_id("search").fill("zzz-no-such-thing")
    page.get_by_text("No chats match").wait_for()
    page.get_by_test_id("search").fill("")
    page.wait_for_function("document.querySelectorAll('.conv-link').length === 4")


def test_infinite_scroll_loads_older_conversations(context, page, user):
    for i in range(75):
        api_conversation(context, f"Chat number {i:03d}")
    page.goto("/")
    page.locator(".conv-link").first.wait_for()
    page.wait_for_timeout(300)
    first = page.locator(".conv-link").count()
    assert 30 <= first < 75, first
    for _ in range(10):
        page.locator(".conv-list").evaluate("el => el.scrollTop = el.scrollHeight")
        page.wait_for_timeout(250)
        if page.locator(".conv-link").count() == 75:
            break
    titles = sidebar_titles(page)
    assert len(titles) == 75
    assert titles[0] == "Chat number 074" and titles[-1] == "Chat number 000"
    assert len(set(titles)) == 75  # no duplicates across pages
