// Markdown → sanitised HTML: GitHub-flavoured (marked), code highlighting (highlight.js, loaded on first need),
// math (math.js), and EVERYTHING through sanitize() (DOMPurify) before it reaches the page.
// renderBlocks() (history, and once when a stream ends) lexes the whole text and renders it block by block through
// a cache, so a finished answer costs little more than its new blocks; renderTail() is a streaming answer's
// unfinished block (streamRenderer.js).
import RevealMarkdown from 'reveal-markdown'
import { t } from '../i18n.js'
import { libraries, loadHighlight, onInvalidate } from './libraries.js'
import { escapeHtml, sanitize } from './sanitize.js'
import { mathExtensions, withSlots, fillSlots } from './math.js'
import { lru } from './lru.js'

const marked = RevealMarkdown().marked // marked 4.x, shipped inside reveal.js's markdown plugin

const blockCache = lru(4000) //  one top-level block's markdown → its sanitised HTML
const messageCache = lru(600) // a finished message's whole text → its sanitised HTML
onInvalidate(() => { blockCache.clear(); messageCache.clear() })

const SAFE_RAW_TAG = /^<\/?(?:br|sub|sup|kbd|b|i|u|em|strong|s|del|ins|mark|small)\s*\/?>$/i
const renderer = new marked.Renderer()
renderer.code = (code, infostring) => {
  const lang = (String(infostring || '').match(/^[^\s{]*/)?.[0] || '').slice(0, 40)
  let body = null
  if (lang) {
    const hljs = libraries.hljs
    if (hljs) {
      if (hljs.getLanguage(lang)) {
        try { body = hljs.highlight(code, { language: lang, ignoreIllegals: true }).value } catch { body = null }
      }
    } else loadHighlight()
  }
  body ??= escapeHtml(code)
  const label = escapeHtml(lang || 'text')
  const copy = escapeHtml(t('chat.copy'))
  return `<div class="code-block"><div class="code-head"><span class="code-lang">${label}</span>` +
    `<button type="button" class="code-copy" data-copy-code aria-label="${escapeHtml(t('chat.copyCode'))}">${copy}</button></div>` +
    `<pre><code class="hljs${lang ? ` language-${label}` : ''}">${body}</code></pre></div>\n`
}
// Raw HTML written by the model is shown as text, except a few harmless attribute-less tags (<br> in tables).
renderer.html = (html) => (SAFE_RAW_TAG.test(String(html).trim()) ? html : escapeHtml(html))
renderer.table = (header, body) =>
  `<div class="table-wrap"><table><thead>${header}</thead>${body ? `<tbody>${body}</tbody>` : ''}</table></div>\n`

marked.setOptions({ gfm: true, breaks: false, headerIds: false, mangle: false, renderer })
marked.use({ extensions: mathExtensions })

/** A stream's unfinished block → sanitised HTML with empty formula slots (patchTail fills them). */
export const renderTail = (src) => withSlots(() => sanitize(marked.parse(src)))

/**
 * Markdown of whole blocks → one sanitised HTML string (no cache). The text around formulas and each formula are
 * sanitised separately (a formula once, then cached): the sanitised formula HTML goes into its sanitised, empty
 * slot element. KaTeX's output is the bulk of the HTML; this keeps it from being re-sanitised for every block.
 */
function renderChunk(src) {
  return fillSlots(withSlots(() => sanitize(marked.parse(src))))
}

const keyOf = (raw) => raw.replace(/\s+$/, '')

/**
 * A finished message from the history → [{key, html}] as ONE block: one parse and one sanitiser pass for the
 * whole message (cheapest for opening long conversations), cached by its text.
 */
export function renderMessage(text) {
  const src = String(text ?? '')
  let html = messageCache.get(src)
  if (html === undefined) {
    html = renderChunk(src)
    messageCache.set(src, html)
  }
  return html ? [{ key: 0, html }] : []
}

/**
 * Whole text → [{key, html}] one per top-level block, each block's HTML cached by its markdown.
 * Used for finished messages and for the one full render at the end of a stream.
 */
export function renderBlocks(text) {
  const tokens = marked.lexer(String(text ?? ''))
  const links = tokens.links || {}
  const cacheable = Object.keys(links).length === 0 // reference links make a block depend on the rest
  const out = []
  for (const token of tokens) {
    if (token.type === 'space') continue
    const key = keyOf(token.raw)
    let html = cacheable ? blockCache.get(key) : undefined
    if (html === undefined) {
      const one = [token]
      one.links = links
      html = sanitize(marked.parser(one))
      if (cacheable) blockCache.set(key, html)
    }
    out.push({ key: out.length, html })
  }
  return out
}
