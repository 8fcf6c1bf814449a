"""Model answers, titles and user messages carrying HTML/JS must never run anything."""
from helpers import answer_text, current_conversation_id, send, wait_answer_status

PAYLOADS = (
    "<img src=x onerror=alert(1)> "
    "<script>alert(2)</script> "
    "[click me](javascript:alert(3)) "
    "<svg onload=alert(4)><script>alert(5)</script></svg> "
    "<iframe src=javascript:alert(6)></iframe> "
    "<a href=\\\"javascript:alert(7)\\\">link</a> "
    "![pic](x\\\" onerror=\\\"alert(8)) "
    "<style>body{display:none}</style> "
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(9)></style></mglyph></table></mtext></math> "
    "$\\\\href{javascript:alert(10)}{x}$ "
    "<details open ontoggle=alert(11)>d</details>"
)


def assert_inert(page):
    md = page.locator(".msg-assistant .md")
    assert md.locator("script, iframe, style, object, embed").count() == 0
    assert page.locator("img[src='x'], img[onerror]").count() == 0
    assert page.locator("[onload], [onerror], [ontoggle], [onclick]").count() == 0
    hrefs = page.eval_on_selector_all("a[href]", "els => els.map(a => a.getAttribute('href'))")
    assert not [h for h in hrefs if h.strip().lower().startswith("javascript:")], hrefs
    assert page.evaluate("getComputedStyle(document.body).display") != "none"


def test_xss_in_a_model_answer_does_nothing(logged_in):
    page = logged_in
    send(page, f'[[fake reply="{PAYLOADS}"]] be evil')
    wait_answer_status(page, "completed")
    assert "alert(1)" in answer_text(page)  # shown as text
    assert_inert(page)
    link = page.locator(".msg-assistant .md a", has_text="click me")
    if link.count():
        link.click()  # a link without a safe href goes nowhere and runs nothing
    page.wait_for_timeout(500)
    assert_inert(page)
    # the user's own message is plain text too
    assert "<img src=x onerror=alert(1)>" in page.locator(".msg-user .bubble").inner_text()


def test_xss_in_a_streaming_answer_does_nothing(logged_in):
    page = logged_in
    send(page, f'[[fake reply="{PAYLOADS}" delay_ms=40]] be evil slowly')
    page.locator(".md.streaming").wait_for()
    for _ in range(8):
        assert_inert(page)
        page.wait_for_timeout(120)
    wait_answer_status(page, "completed")
    assert_inert(page)


def test_xss_in_a_title_does_nothing(logged_in):
    page = logged_in
    evil = '<img src=x onerror=alert(12)><script>alert(13)</script>'
    send(page, f'[[fake title_reply="{evil}" reply="fine"]] title attack')
    wait_answer_status(page, "completed")
    conv_id = current_conversation_id(page)
    page.wait_for_timeout(1500)  # the title event comes after the answer
    link = page.locator(f'.conv-item[data-id="{conv_id}"] .conv-link')
    assert link.locator("img, script").count() == 0
    assert page.locator("img[src='x']").count() == 0
    page.reload()
    page.locator(f'.conv-item[data-id="{conv_id}"] .conv-link').wait_for()
    assert page.locator("img[src='x']").count() == 0
    assert page.locator(".conv-list script, .chat-title script").count() == 0
