// Markdown → sanitised HTML. GitHub-flavoured (marked), code highlighting (highlight.js, loaded on first need),
// math (KaTeX, loaded on first need), and EVERYTHING through DOMPurify before it reaches the page.
//
// Streaming: createStreamRenderer() splits the growing text into blocks at blank lines outside code fences and
// display math; a finished block is rendered + sanitised once and kept; each update re-renders only the last,
// unfinished block. renderBlocks() (history, and once when a stream ends) lexes the whole text and renders it
// block by block through a cache, so a finished answer costs little more than its new blocks.
import RevealMarkdown from 'reveal-markdown'
import DOMPurify from 'dompurify'
import { ref } from 'vue'
import { t } from './useI18n.js'

export const marked = RevealMarkdown().marked // marked 4.x, shipped inside reveal.js's markdown plugin

/** Bumped when highlight.js or KaTeX arrive, or the UI language changes: rendered HTML must be redone. */
export const libsVersion = ref(0)
let hljs = null
let katex = null
let hljsLoading = null
let katexLoading = null

export function invalidate() {
  blockCache.clear()
  sanitizedMath.clear()
  messageCache.clear()
  mathCache.clear()
  libsVersion.value++
}

function loadHighlight() {
  hljsLoading ??= import('reveal-highlight')
    .then((m) => { hljs = m.default().hljs; invalidate() })
    .catch((e) => console.warn('highlight.js failed to load', e))
}
function loadKatex() {
  if (katexLoading) return
  const link = document.createElement('link')
  link.rel = 'stylesheet'
  link.href = '/vendor/katex/katex.min.css'
  document.head.appendChild(link)
  katexLoading = import('katex')
    .then((m) => { katex = m.default; invalidate() })
    .catch((e) => console.warn('KaTeX failed to load', e))
}
/** Start loading the optional libraries a text will need (called as soon as a stream shows a fence or math). */
export function preloadFor(text) {
  if (!hljs && /(^|\n) {0,3}(```|~~~)/.test(text)) loadHighlight()
  if (!katex && /\$|\\\(|\\\[/.test(text)) loadKatex()
}

const ESC = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }
export const escapeHtml = (s) => String(s).replace(/[&<>"']/g, (c) => ESC[c])

// ---- small LRU caches -------------------------------------------------------------------------------------
function lru(limit) {
  const m = new Map()
  return {
    get(k) { const v = m.get(k); if (v !== undefined) { m.delete(k); m.set(k, v) } return v },
    set(k, v) { m.set(k, v); if (m.size > limit) m.delete(m.keys().next().value) },
    clear: () => m.clear(),
  }
}
const blockCache = lru(4000) // one top-level block's markdown → its sanitised HTML
const mathCache = lru(2000) //  TeX → KaTeX HTML

// ---- math -------------------------------------------------------------------------------------------------
// While rendering a stream's unfinished block, formulas become empty slots (<span class="math-slot" data-k>) that
// patchTail() fills with the formula's own sanitised HTML, and keeps from one update to the next: the growing text
// around them is re-rendered, the formulas' DOM is not re-parsed, re-sanitised or laid out again.
let slotMode = false
const sanitizedMath = lru(2000) // key → sanitised KaTeX HTML

function renderTex(tex, display) {
  if (!katex) {
    loadKatex()
    return `<code class="math-pending">${escapeHtml(display ? `$$${tex}$$` : `$${tex}$`)}</code>`
  }
  const key = (display ? 'D' : 'I') + tex
  if (slotMode) return `<span class="math-slot" data-k="${escapeHtml(key)}"></span>`
  let html = mathCache.get(key)
  if (html === undefined) {
    try {
      html = katex.renderToString(tex, { displayMode: display, throwOnError: false, strict: 'ignore', trust: false, maxSize: 50, maxExpand: 1000, output: 'htmlAndMathml' })
    } catch {
      html = `<code class="math-error">${escapeHtml(tex)}</code>`
    }
    mathCache.set(key, html)
  }
  return html
}

const BLOCK_MATH = [/^ {0,3}\$\$([\s\S]+?)\$\$[ \t]*(?:\n+|$)/, /^ {0,3}\\\[([\s\S]+?)\\\][ \t]*(?:\n+|$)/]
const INLINE_MATH = [
  [/^\$\$((?:\\[\s\S]|[^\\$])+?)\$\$/, true],
  [/^\\\[([\s\S]+?)\\\]/, true],
  [/^\\\(([\s\S]+?)\\\)/, false],
  // $…$: no space just inside the dollars, and no digit right after the closing one ("$5 and $10" is money)
  [/^\$(?!\s)((?:\\[\s\S]|[^\\$\n])+?)(?<!\s)\$(?![\d$])/, false],
]

const mathExtensions = [
  {
    name: 'blockMath',
    level: 'block',
    start(src) { // only at a line start, so "$$" inside a sentence does not cut the paragraph
      const m = /(?:^|\n) {0,3}(?:\$\$|\\\[)/.exec(src)
      return m ? m.index + (m[0][0] === '\n' ? 1 : 0) : undefined
    },
    tokenizer(src) {
      for (const re of BLOCK_MATH) {
        const m = re.exec(src)
        if (m) return { type: 'blockMath', raw: m[0], text: m[1].trim() }
      }
      return undefined
    },
    renderer: (tok) => `<div class="math-display">${renderTex(tok.text, true)}</div>\n`,
  },
  {
    name: 'inlineMath',
    level: 'inline', // extensions run before marked's escape rule, so "\(" is not read as an escaped "("
    start(src) {
      const m = /\$|\\\(|\\\[/.exec(src)
      return m ? m.index : undefined
    },
    tokenizer(src) {
      for (const [re, display] of INLINE_MATH) {
        const m = re.exec(src)
        if (m) return { type: 'inlineMath', raw: m[0], text: m[1].trim(), display }
      }
      return undefined
    },
    renderer: (tok) => (tok.display ? `<span class="math-display">${renderTex(tok.text, true)}</span>` : renderTex(tok.text, false)),
  },
]

// ---- renderer ---------------------------------------------------------------------------------------------
const SAFE_RAW_TAG = /^<\/?(?:br|sub|sup|kbd|b|i|u|em|strong|s|del|ins|mark|small)\s*\/?>$/i
const renderer = new marked.Renderer()
renderer.code = (code, infostring) => {
  const lang = (String(infostring || '').match(/^[^\s{]*/)?.[0] || '').slice(0, 40)
  let body = null
  if (lang) {
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

// ---- sanitising -------------------------------------------------------------------------------------------
const PURIFY = {
  ADD_TAGS: ['semantics', 'annotation'], // KaTeX's MathML
  ADD_ATTR: ['encoding', 'target'],
  FORBID_TAGS: ['style', 'script', 'iframe', 'frame', 'frameset', 'object', 'embed', 'form', 'base', 'link', 'meta',
    'foreignObject', 'textarea', 'select', 'option', 'dialog', 'template', 'noscript'],
  FORBID_ATTR: ['srcset', 'action', 'formaction', 'autofocus', 'contenteditable'],
}
DOMPurify.addHook('afterSanitizeAttributes', (node) => {
  if (node.tagName === 'A' && node.hasAttribute('href')) {
    node.setAttribute('target', '_blank')
    node.setAttribute('rel', 'noopener noreferrer')
  }
  if (node.tagName === 'INPUT' && node.getAttribute('type') !== 'checkbox') node.remove()
  if (node.tagName === 'INPUT') node.setAttribute('disabled', '')
})
DOMPurify.setConfig(PURIFY) // once: passing the config on every call re-parses it (measurable per streamed update)
export const sanitize = (html) => DOMPurify.sanitize(html)

/** The sanitised KaTeX HTML of a formula slot's key ('D' or 'I' + TeX). */
export function slotHtml(key) {
  let html = sanitizedMath.get(key)
  if (html === undefined) {
    html = sanitize(renderTex(key.slice(1), key[0] === 'D'))
    sanitizedMath.set(key, html)
  }
  return html
}

/** A stream's unfinished block → sanitised HTML with empty formula slots (patchTail fills them). */
export function renderTail(src) {
  slotMode = true
  try { return sanitize(marked.parse(src)) } finally { slotMode = false }
}

const UNESC = { '&amp;': '&', '&lt;': '<', '&gt;': '>', '&quot;': '"', '&#39;': "'", '&nbsp;': '\u00a0' }
const SLOT = /<span class="math-slot" data-k="([^"]*)"><\/span>/g

/**
 * Markdown of whole blocks → one sanitised HTML string (no cache). The text around formulas and each formula are
 * sanitised separately (a formula once, then cached): the sanitised formula HTML goes into its sanitised, empty
 * slot element. KaTeX's output is the bulk of the HTML; this keeps it from being re-sanitised for every block.
 */
export function renderChunk(src) {
  slotMode = true
  let skeleton
  try { skeleton = sanitize(marked.parse(src)) } finally { slotMode = false }
  return skeleton.replace(SLOT, (whole, k) =>
    `<span class="math-slot" data-k="${k}">${slotHtml(k.replace(/&(?:amp|lt|gt|quot|#39|nbsp);/g, (e) => UNESC[e]))}</span>`)
}

const keyOf = (raw) => raw.replace(/\s+$/, '')
const messageCache = lru(600) // a finished message's whole text → its sanitised HTML

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
  for (const tok of tokens) {
    if (tok.type === 'space') continue
    const key = keyOf(tok.raw)
    let html = cacheable ? blockCache.get(key) : undefined
    if (html === undefined) {
      const one = [tok]
      one.links = links
      html = sanitize(marked.parser(one))
      if (cacheable) blockCache.set(key, html)
    }
    out.push({ key: out.length, html })
  }
  return out
}

// ---- streaming --------------------------------------------------------------------------------------------
const FENCE = /^\s{0,12}(`{3,}|~{3,})(.*)$/

/**
 * For one streaming message. update(text) → { committed, tail }: `committed` is an array of {key, html} that
 * changes identity only when a block is finished; `tail` is the HTML of the unfinished last block.
 * Cost per update: scanning the new characters + rendering the unfinished block — not the whole answer.
 */
export function createStreamRenderer() {
  let committed = [] // [{key, html}], one per top-level block, the same shape as renderBlocks() gives
  let chunks = [] //    the finished markdown, as it was cut (to redo it when highlight.js / KaTeX arrive)
  let offset = 0 //     text[0, offset) is in `committed`
  let scanPos = 0 //    next line to look at
  let fence = null //   {ch, len} while inside a fenced code block
  let mathEnd = null // '$$' or '\\]' while inside display math
  let version = libsVersion.value
  let last = { start: 0, src: '' } // the last finished chunk, to notice a text that was replaced, not extended

  function reset() {
    committed = []; chunks = []; offset = 0; scanPos = 0; fence = null; mathEnd = null; last = { start: 0, src: '' }
  }
  const blocksOf = (src, from) => renderBlocks(src).map((b, i) => ({ key: from + i, html: b.html }))

  function scanLine(line) { // → true when this line is a block boundary (a blank line outside fence / math)
    if (fence) {
      const m = FENCE.exec(line)
      if (m && m[1][0] === fence.ch && m[1].length >= fence.len && !m[2].trim()) fence = null
      return false
    }
    if (mathEnd) {
      if (line.includes(mathEnd)) mathEnd = null
      return false
    }
    const m = FENCE.exec(line)
    if (m && !(m[1][0] === '`' && m[2].includes('`'))) { fence = { ch: m[1][0], len: m[1].length }; return false }
    const s = line.trim()
    if (s.startsWith('$$')) { if (s.length < 4 || !s.slice(2).includes('$$')) mathEnd = '$$'; return false }
    if (s.startsWith('\\[')) { if (!s.includes('\\]')) mathEnd = '\\]'; return false }
    return s === ''
  }

  return {
    update(text) {
      if (text.length < offset || !text.startsWith(last.src, last.start)) reset()
      if (version !== libsVersion.value) { // libraries arrived: redo the finished blocks once
        version = libsVersion.value
        committed = []
        for (const src of chunks) committed.push(...blocksOf(src, committed.length))
      }
      let boundary = -1
      for (;;) {
        const nl = text.indexOf('\n', scanPos)
        if (nl === -1) break
        const isBoundary = scanLine(text.slice(scanPos, nl))
        scanPos = nl + 1
        if (isBoundary) boundary = scanPos
      }
      if (boundary > offset) {
        const src = text.slice(offset, boundary)
        if (src.trim()) {
          chunks.push(src)
          committed = committed.concat(blocksOf(src, committed.length))
        }
        last = { start: offset, src }
        offset = boundary
      }
      const tailSrc = text.slice(offset)
      return { committed, tail: tailSrc.trim() ? renderTail(tailSrc) : '' }
    },
  }
}

// ---- performance probe (read by the benchmark and the browser tests) ---------------------------------------
export const perf = {
  updates: [], // {ms, renderMs, length}: one per streamed update (one animation frame)
  finals: [], //  {ms, length}: the full render when a stream ends
  record(kind, entry) {
    const list = this[kind]
    list.push(entry)
    if (list.length > 20000) list.splice(0, list.length - 20000)
  },
  reset() { this.updates.length = 0; this.finals.length = 0 },
  /** average ms per update over the last n updates */
  lastAverage(n = 50) {
    const xs = this.updates.slice(-n)
    return xs.length ? xs.reduce((a, x) => a + x.ms, 0) / xs.length : 0
  },
}
window.__chatboxPerf = perf
