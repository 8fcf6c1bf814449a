"""Render cost while streaming a 50 KB answer, opening a 1,000-message chat, and the page's first-load bytes.
Figures are written to test-artifacts/perf.json."""
import json
import statistics
import time

from conftest import ARTIFACTS, PageWatch, make_context, register
from helpers import api_conversation, send, wait_answer_status

PERF_FILE = ARTIFACTS / "perf.json"


def record(key, value):
    data = json.loads(PERF_FILE.read_text()) if PERF_FILE.exists() else {}
    data[key] = value
    PERF_FILE.write_text(json.dumps(data, indent=2))


def fifty_kb_markdown() -> str:
    parts = []
    i = 0
    while sum(len(p) for p in parts) < 50_000:
        i += 1
        parts.append(
            f"## Section {i}\n\n"
            f"This is paragraph {i} with **bold**, *italic*, `inline code`, a [link](https://example.com/{i}) "
            f"and the formula $a_{i}^2 + b^2 = c^2$. It goes on for a while so the block is a realistic size, "
            f"like an answer from a real model explaining something step by step.\n\n"
            f"| key | value |\n|---|---|\n| n | {i} |\n| square | {i * i} |\n\n"
            f"```python\ndef f_{i}(x):\n    return x * {i}\n```\n\n"
            f"- point one of {i}\n- point two of {i}\n\n")
    return "".join(parts)


def directive_quote(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def test_streaming_a_50kb_answer_costs_the_same_per_update_at_its_end(logged_in):
    page = logged_in
    body = fifty_kb_markdown()
    page.evaluate("window.__chatboxPerf.reset()")
    box = page.get_by_test_id("composer")
    box.evaluate("(el, v) => { el.value = v; el.dispatchEvent(new Event('input')) }",
                 f'[[fake reply="{directive_quote(body)}" delay_ms=4]] long answer')
    box.press("Enter")
    page.locator(".md.streaming").wait_for()
    wait_answer_status(page, "completed", timeout=120000)
    perf = page.evaluate("({ updates: window.__chatboxPerf.updates, finals: window.__chatboxPerf.finals })")
    updates = perf["updates"]
    assert len(updates) > 100, len(updates)
    assert updates[-1]["length"] >= 45_000
    last = [u["ms"] for u in updates[-50:]]
    first = [u["ms"] for u in updates[:50]]
    result = {
        "answer_chars": len(body),
        "updates": len(updates),
        "last50_mean_ms": round(statistics.mean(last), 3),
        "last50_median_ms": round(statistics.median(last), 3),
        "last50_max_ms": round(max(last), 3),
        "first50_median_ms": round(statistics.median(first), 3),
        "last50_render_only_median_ms": round(statistics.median(u["renderMs"] for u in updates[-50:]), 3),
        "final_full_render_ms": round(perf["finals"][-1]["ms"], 2) if perf["finals"] else None,
    }
    record("stream_50kb", result)
    print("\n50 KB stream:", result)
    # The ≤ 2 ms target is a benchmark figure (test-artifacts/perf.json, reported in the closing note), not a test
    # assertion: time on a shared 2-core machine is not something a test can promise. What the test holds is that
    # the cost per update does not grow with the answer.
    # the cost does not grow with the answer
    assert result["last50_median_ms"] <= 3 * result["first50_median_ms"] + 1.0, result
    # and the final text is all there
    assert "Section" in page.locator(".msg-assistant .md").inner_text()
    assert page.locator(".msg-assistant .md h2").count() == body.count("## Section")


def test_opening_a_chat_with_1000_messages_stays_smooth(context, page, user):
    conv = api_conversation(context, "Thousand messages")
    for i in range(500):
        r = context.request.post(f"/api/conversations/{conv['id']}/messages",
                                 data={"content": f'[[fake reply="Answer **{i}** with `code` and a list:\\n\\n- a\\n- b" delay_ms=0]] question {i}'},
                                 timeout=30000)
        assert r.ok, r.text()
    start = time.time()
    page.goto(f"/c/{conv['id']}")
    page.get_by_text("Answer 499", exact=False).wait_for()
    opened_ms = (time.time() - start) * 1000
    mounted = page.locator(".msg").count()
    # long tasks while opening and while scrolling back through the history
    page.evaluate("""() => { window.__longTasks = []; new PerformanceObserver(l => l.getEntries()
        .forEach(e => window.__longTasks.push(e.duration))).observe({ type: 'longtask', buffered: true }) }""")
    t0 = time.time()
    # Scroll back until everything is mounted: bounded by a generous deadline, not by a count of 40 ms steps
    # (a busy machine renders fewer pages per step).
    while time.time() - t0 < 90 and page.locator(".msg").count() < 1000:
        page.locator(".chat-scroll").evaluate("el => el.scrollTop = 0")
        page.wait_for_timeout(40)
    scrolled_ms = (time.time() - t0) * 1000
    long_tasks = page.evaluate("window.__longTasks")
    result = {"open_ms": round(opened_ms), "mounted_at_open": mounted, "all_mounted_after_ms": round(scrolled_ms),
              "mounted_after_scrolling": page.locator(".msg").count(),
              "long_tasks_while_scrolling_ms": [round(x) for x in long_tasks]}
    record("open_1000_messages", result)
    print("\n1000 messages:", result)
    # Times (opening, long tasks) are figures in test-artifacts/perf.json, not assertions: a shared 2-core machine
    # cannot promise them. What the test holds: the history is mounted in pages, and scrolling back mounts it all.
    assert mounted <= 60, "the whole history was mounted at once"
    assert page.locator(".msg").count() == 1000, result
    assert page.get_by_text("Answer 0 with", exact=False).count() == 1


def test_first_load_bytes(browser, server):
    """Bytes the browser fetches for a first visit: the login page, then the chat page once logged in, then what
    the first answer with code and math adds (highlight.js, KaTeX and its fonts load only then); and what a repeat
    visit of the chat page fetches again. Chromium asks for compression as it always does (Accept-Encoding: gzip,
    deflate, br, …): "wire" is what came over the network (Resource Timing transferSize: headers and the compressed
    body; 0 for a cache hit), "bytes" the files as they are on disk (decodedBodySize, the figure before
    compression)."""
    entries_js = """() => [...performance.getEntriesByType('navigation'), ...performance.getEntriesByType('resource')]
        .map(e => ({ name: e.name.replace(location.origin, ''), bytes: e.decodedBodySize,
                     encoded: e.encodedBodySize, wire: e.transferSize }))"""

    def measure(ctx, path, ready):
        page = ctx.new_page()
        watch = PageWatch(page)
        page.goto(path)
        page.wait_for_selector(ready)
        page.wait_for_load_state("networkidle")
        return page, watch, page.evaluate(entries_js)

    total = lambda es, key="bytes": sum(e[key] for e in es)
    static = lambda es: [e for e in es if not e["name"].startswith("/api/")]
    ctx = make_context(browser, server)
    page, watch, login = measure(ctx, "/login", ".auth-card")
    watch.assert_clean()
    page.close()
    register(ctx)
    ctx2 = make_context(browser, server, storage_state=ctx.storage_state())
    page, watch, chat = measure(ctx2, "/", ".empty-state")
    names = " ".join(e["name"] for e in chat)
    assert "katex.mjs" not in names and "reveal-highlight" not in names  # loaded only when an answer needs them
    send(page, "Show me code and math")
    wait_answer_status(page, "completed")
    page.wait_for_function("document.querySelector('.msg-assistant .katex') && document.querySelector('.hljs-keyword')")
    page.wait_for_load_state("networkidle")
    after = page.evaluate(entries_js)
    seen = {e["name"] for e in chat}
    lazy = [e for e in after if e["name"] not in seen and not e["name"].startswith("/api/")]
    watch.assert_clean()
    page.close()
    # A repeat visit in the same browser: the versioned vendor files come from the cache (immutable), the page and
    # our own files are revalidated (304, headers only).
    page, watch, repeat = measure(ctx2, "/", ".empty-state")
    watch.assert_clean()
    repeat_static = static(repeat)
    # Chromium counts every response's headers as 300 bytes in transferSize: a 304 is 300, a fresh fetch the body
    # plus 300, a cache hit 0.
    fetched_again = [e for e in repeat_static if e["wire"] and e["wire"] >= e["encoded"] + 300]
    result = {
        "login_page_bytes": total(login),
        "login_page_wire_bytes": total(login, "encoded"),
        "chat_page_bytes": total(chat),
        "chat_page_wire_bytes": total(chat, "encoded"),
        "chat_page_wire_bytes_with_headers": total(chat, "wire"),
        "chat_page_responses": len(chat),
        "chat_page_files": sorted((e["name"], e["bytes"], e["encoded"]) for e in chat),
        "first_code_and_math_answer_adds_bytes": total(lazy),
        "first_code_and_math_answer_adds_wire_bytes": total(lazy, "encoded"),
        "lazy_files": sorted((e["name"], e["bytes"], e["encoded"]) for e in lazy),
        "compressed": any(e["encoded"] and e["bytes"] and e["encoded"] < e["bytes"] * 0.8 for e in chat),
        "repeat_visit_static_files": len(repeat_static),
        "repeat_visit_static_wire_bytes_with_headers": total(repeat_static, "wire"),
        "repeat_visit_cache_hits": sum(1 for e in repeat_static if e["wire"] == 0),
        "repeat_visit_revalidated_304": sum(1 for e in repeat_static if 0 < e["wire"] < e["encoded"] + 300),
        "repeat_visit_fetched_again": [e["name"] for e in fetched_again],
        "repeat_visit_api_wire_bytes_with_headers": total([e for e in repeat if e["name"].startswith("/api/")], "wire"),
    }
    record("first_load", result)
    print("\nfirst load:", json.dumps(result, indent=1))
    # Uncompressed, the first load was 366 kB (budget 430 000 since issues 14 and 15 added ~25 kB). Issue 17: at most
    # 150 000 bytes over the wire, compressed as Chromium asks for it (the bodies, as the old figure counted them;
    # with Chromium's 300 bytes of headers per response the figure is chat_page_wire_bytes_with_headers).
    assert result["compressed"], result["chat_page_files"]
    assert result["chat_page_wire_bytes"] <= 150_000, result["chat_page_wire_bytes"]
    assert result["chat_page_bytes"] < 430_000
    # A repeat visit fetches no file again: the versioned vendor files are cache hits (immutable), the rest 304s.
    assert not fetched_again, fetched_again
    assert all(e["wire"] == 0 for e in repeat_static if e["name"].startswith("/vendor/")), repeat_static
    assert result["repeat_visit_cache_hits"] >= 3, repeat_static
    ctx.close()
    ctx2.close()
