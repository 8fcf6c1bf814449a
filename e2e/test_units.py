"""The page's own modules, exercised inside the browser: the SSE parser and the Markdown pipeline."""
import pytest


@pytest.fixture
def app_page(page):
    page.goto("/")
    page.locator(".auth-card").wait_for()
    return page


def test_sse_parser_handles_events_split_anywhere(app_page):
    events = app_page.evaluate(r"""async () => {
        const { SSEParser } = await import('/js/api.js')
        const stream = 'event: start\r\ndata: {"a":1}\r\n\r\n: keep-alive\n\nevent: delta\ndata: {"text":"x\\ny"}\n\n' +
                       'event: delta\rdata: line1\rdata: line2\r\revent: done\ndata:{"ok":true}\n\ndata: tail-without-blank'
        const results = []
        for (const size of [1, 2, 3, 7, 1000]) {
            const got = []
            const p = new SSEParser((name, data) => got.push([name, data]))
            for (let i = 0; i < stream.length; i += size) p.push(stream.slice(i, i + size))
            p.end()
            results.push(JSON.stringify(got))
        }
        return results
    }""")
    expected = ('[["start","{\\"a\\":1}"],["delta","{\\"text\\":\\"x\\\\ny\\"}"],["delta","line1\\nline2"],'
                '["done","{\\"ok\\":true}"],["message","tail-without-blank"]]')
    assert events == [expected] * 5


def test_streamed_rendering_ends_identical_to_a_full_render(app_page):
    same = app_page.evaluate(r"""async () => {
        const md = await import('/js/markdown/render.js')
        const { createStreamRenderer } = await import('/js/markdown/streamRenderer.js')
        const { patchTail } = await import('/js/markdown/domMorph.js')
        md.renderBlocks('$x$ warm up'); await new Promise(r => setTimeout(r, 1500))  // KaTeX
        const texts = [
          "# T\n\npara with $x^2$ and \\(y\\)\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n```js\nlet a = 1\n\n\nlet b = 2\n```\n\nend",
          "1. one\n\n2. two\n\n   more of two\n\n3. three",
          "$$\na + b\n\n= c\n$$\n\nafter math",
          "> quote\n> more\n\n- [x] done\n- [ ] todo\n\n~~gone~~ **bold**",
          "~~~\nfenced ~~~ tilde\n\n~~~\n\ntext after",
          "tail with math $a^2$ and \\(b\\) and more $$c$$ end",
        ]
        const out = []
        for (const text of texts) {
            const sr = createStreamRenderer()
            const tail = document.createElement('div')
            for (let i = 1; i <= text.length; i += 3) patchTail(tail, sr.update(text.slice(0, i)).tail)
            const r = sr.update(text)
            patchTail(tail, r.tail)
            const streamed = document.createElement('div')
            streamed.innerHTML = r.committed.map(c => c.html).join('')
            streamed.appendChild(tail)
            const full = document.createElement('div')
            full.innerHTML = md.renderBlocks(text).map(b => b.html).join('')
            out.push(streamed.textContent.replace(/\s+/g, ' ').trim() === full.textContent.replace(/\s+/g, ' ').trim())
        }
        return out
    }""")
    assert same == [True] * 6


def test_math_delimiters_and_money(app_page):
    html = app_page.evaluate(r"""async () => {
        const md = await import('/js/markdown/render.js')
        md.renderBlocks('warm up $x$')
        await new Promise(r => setTimeout(r, 1500))  // KaTeX loads on first need
        return md.renderBlocks('a $x$ b \\(y\\) c $$z$$ d \\[w\\] it costs $5 and $10 today').map(b => b.html).join('')
    }""")
    assert html.count('class="katex"') == 4
    assert html.count("katex-display") == 2
    assert "$5 and $10" in html


def test_sanitiser_keeps_katex_mathml_and_strips_scripts(app_page):
    result = app_page.evaluate(r"""async () => {
        const md = await import('/js/markdown/sanitize.js')
        return {
          mathml: md.sanitize('<span class="katex"><math><semantics><mi>x</mi><annotation encoding="application/x-tex">x</annotation></semantics></math></span>'),
          evil: md.sanitize('<a href="javascript:alert(1)">a</a><img src=x onerror=alert(1)><svg><script>alert(1)</script></svg><iframe></iframe><style>*{}</style><a href="https://e.com">ok</a>'),
        }
    }""")
    assert "<annotation encoding=\"application/x-tex\">" in result["mathml"] and "<semantics>" in result["mathml"]
    evil = result["evil"]
    assert "javascript" not in evil and "onerror" not in evil and "<script" not in evil
    assert "<iframe" not in evil and "<style" not in evil
    assert 'target="_blank"' in evil and 'rel="noopener noreferrer"' in evil
    # Chrome reports the onerror attribute DOMPurify's inert parser document saw as a CSP violation; nothing ran
    # (no dialog). The app never feeds raw model HTML to the sanitiser: the renderer escapes it first.
    app_page.watch.csp.clear()


def test_sidebar_groups_by_day_in_the_users_time_zone(app_page):
    groups = app_page.evaluate("""async () => {
        const { groupConversations } = await import('/js/conversations.js')
        const now = new Date(2026, 10, 22, 9, 30)  // local time
        const at = (d, h) => new Date(2026, 10, 22 - d, h, 0).toISOString()
        const list = [
          { id: 1, updated_at: at(0, 8) }, { id: 2, updated_at: at(0, 0) },
          { id: 3, updated_at: at(1, 23) }, { id: 4, updated_at: at(1, 0) },
          { id: 5, updated_at: at(2, 12) }, { id: 6, updated_at: at(7, 1) },
          { id: 7, updated_at: at(8, 12) }, { id: 8, updated_at: 'not a date' },
        ]
        return groupConversations(list, now).map(g => [g.key, g.items.map(c => c.id)])
    }""")
    assert groups == [["today", [1, 2]], ["yesterday", [3, 4]], ["previous7", [5, 6]], ["older", [7, 8]]]


def test_answer_stream_reads_reasoning_apart_and_frees_the_chat_at_done(app_page):
    """A stream (fed by hand) with reasoning, deltas and done: the reasoning goes to `reasoning`, the answer to
    `content`, the think time is measured, and the chat is not busy from `done` on although the stream stays open."""
    result = app_page.evaluate(r"""async () => {
        const { reactive } = await import('vue')
        const { createAnswerStreams } = await import('/js/answerStream.js')
        const chat = reactive({ id: 7, messages: [], conversation: { id: 7 }, streaming: false, stopping: false })
        const streams = createAnswerStreams(chat)
        const assistant = reactive({ id: 'local', role: 'assistant', content: '', reasoning: '', status: 'processing' })
        chat.messages.push(assistant)
        let finish
        const states = []
        const open = ({ onEvent }) => new Promise((resolve) => {
            finish = resolve
            onEvent('start', { assistant_message: { id: 9, role: 'assistant', content: '', reasoning: '', status: 'processing', model: 'm1' } })
            onEvent('reasoning', { text: 'Let me ' })
            onEvent('reasoning', { text: '**think**.' })
            states.push(['thinking', chat.streaming, chat.messages[0].content, chat.messages[0].reasoning])
            onEvent('delta', { text: 'The answer' })
            onEvent('done', { message: { id: 9, role: 'assistant', content: 'The answer', reasoning: 'Let me **think**.', status: 'completed', model: 'm1' } })
        })
        const result = await streams.run(7, open, { assistant: chat.messages[0] })
        states.push(['after done', chat.streaming, chat.messages[0].status, typeof chat.messages[0]._thinkMs])
        // the stream is still open: the title comes later, then it closes
        await new Promise((r) => setTimeout(r, 20))
        finish(true)
        return { result, states, message: { ...chat.messages[0] } }
    }""")
    assert result["result"]["done"] is True
    assert result["states"][0] == ["thinking", True, "", "Let me **think**."]
    assert result["states"][1] == ["after done", False, "completed", "number"]
    assert result["message"]["content"] == "The answer" and result["message"]["model"] == "m1"


def test_answer_stream_delivers_a_title_after_done(app_page):
    titles = app_page.evaluate(r"""async () => {
        const { reactive } = await import('vue')
        const { createAnswerStreams } = await import('/js/answerStream.js')
        const { onTitleChange } = await import('/js/conversations.js')
        const titles = []
        onTitleChange((id, title) => titles.push([String(id), title]))
        const chat = reactive({ id: 7, messages: [], conversation: { id: 7 }, streaming: false, stopping: false })
        const streams = createAnswerStreams(chat)
        chat.messages.push({ id: 9, role: 'assistant', content: '', reasoning: '', status: 'processing' })
        let emit, finish
        const open = ({ onEvent }) => new Promise((resolve) => {
            emit = onEvent; finish = resolve
            onEvent('start', { assistant_message: { id: 9, role: 'assistant', content: '', status: 'processing' } })
            onEvent('delta', { text: 'x' })
            onEvent('done', { message: { id: 9, role: 'assistant', content: 'x', status: 'completed' } })
        })
        await streams.run(7, open, { assistant: chat.messages[0] })
        const busyAfterDone = chat.streaming
        emit('title', { conversation_id: 7, title: 'Late title' })
        finish(true)
        return { busyAfterDone, titles }
    }""")
    assert titles == {"busyAfterDone": False, "titles": [["7", "Late title"]]}


def test_message_stats_and_connection_helpers(app_page):
    result = app_page.evaluate(r"""async () => {
        const { messageStats } = await import('/js/components/ChatMessage.js')
        const { parseHeaders, formatHeaders, parseModelIds } = await import('/js/useConnections.js')
        let bad = null
        try { parseHeaders('X-Ok: 1\nnot a header') } catch (e) { bad = e.message }
        return {
          full: messageStats({ usage: { prompt_tokens: 12, completion_tokens: 100 }, first_token_ms: 500, duration_ms: 2500 }),
          usageOnly: messageStats({ usage: { prompt_tokens: 3, completion_tokens: 4 }, first_token_ms: null, duration_ms: null }),
          nothing: messageStats({ usage: null }),
          headers: parseHeaders('X-Title: Chatbox\n\n  HTTP-Referer: https://a.example/x:y  \n'),
          round: formatHeaders({ 'X-A': '1', 'X-B': 'two' }),
          bad,
          ids: parseModelIds('a, b\nc\n\na'),
        }
    }""")
    assert result["full"] == "50.0 tokens/s · 12 prompt + 100 completion tokens"
    assert result["usageOnly"] == "3 prompt + 4 completion tokens"
    assert result["nothing"] == ""
    assert result["headers"] == {"X-Title": "Chatbox", "HTTP-Referer": "https://a.example/x:y"}
    assert result["round"] == "X-A: 1\nX-B: two"
    assert result["bad"] == "not a header"
    assert result["ids"] == ["a", "b", "c"]


def test_tree_paths_versions_and_newest_leaves(app_page):
    got = app_page.evaluate(r"""async () => {
        const tree = await import('/js/tree.js')
        // 1 → 2 (answer) → 5 (question) → 6; 1 → 3 (second answer) → 7 → 8; 4: a second version of the first question
        const ms = [[1, null], [2, 1], [3, 1], [4, null], [5, 2], [6, 5], [7, 3], [8, 7], [9, 4]]
            .map(([id, parent_id]) => ({ id, parent_id }))
        const ids = (list) => list.map(m => m.id)
        const byId = (id) => ms.find(m => m.id === id)
        const cycle = [{ id: 1, parent_id: 2 }, { id: 2, parent_id: 1 }]
        return {
            path6: ids(tree.pathTo(ms, 6)), path8: ids(tree.pathTo(ms, 8)), pathUnknown: ids(tree.pathTo(ms, 99)),
            siblings2: ids(tree.siblingsOf(ms, byId(2))), siblingsRoot: ids(tree.siblingsOf(ms, byId(4))),
            siblingsOnly: ids(tree.siblingsOf(ms, byId(6))),
            leafBelow1: tree.newestLeaf(ms, 1), leafBelow2: tree.newestLeaf(ms, 2), leafOfLeaf: tree.newestLeaf(ms, 9),
            defaultLeaf: tree.leafOrDefault(ms, null), keptLeaf: tree.leafOrDefault(ms, 6),
            // ids in creation order: numbers as numbers, a local placeholder after every server id
            order: [10, 'local-a-1', 9, 100].sort(tree.compareIds),
            cycleBounded: tree.pathTo(cycle, 1).length <= 3 && tree.newestLeaf(cycle, 1) != null,
            wideSiblings: tree.siblingsOf([{ id: 10, parent_id: 1 }, { id: 9, parent_id: 1 }], { id: 9, parent_id: 1 }).map(m => m.id),
        }
    }""")
    assert got["path6"] == [1, 2, 5, 6]
    assert got["path8"] == [1, 3, 7, 8]
    assert got["pathUnknown"] == []
    assert got["siblings2"] == [2, 3]
    assert got["siblingsRoot"] == [1, 4]
    assert got["siblingsOnly"] == [6]
    assert got["leafBelow1"] == 8 and got["leafBelow2"] == 6 and got["leafOfLeaf"] == 9
    assert got["defaultLeaf"] == 9 and got["keptLeaf"] == 6
    assert got["order"] == [9, 10, 100, "local-a-1"]
    assert got["cycleBounded"] is True
    assert got["wideSiblings"] == [9, 10]
