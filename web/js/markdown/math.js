// Math: $…$, \(…\), $$…$$ and \[…\] as marked extensions, rendered by KaTeX (loaded on first need).
// While rendering with formula slots (withSlots), formulas become empty slots (<span class="math-slot" data-k>) that
// are filled with the formula's own sanitised HTML (slotHtml): a streaming answer's growing text around them is
// re-rendered, the formulas' DOM is not re-parsed, re-sanitised or laid out again.
import { libraries, loadKatex, onInvalidate } from './libraries.js'
import { escapeHtml, sanitize } from './sanitize.js'
import { lru } from './lru.js'

const mathCache = lru(2000) //      TeX → KaTeX HTML
const sanitizedMath = lru(2000) //  slot key → sanitised KaTeX HTML
onInvalidate(() => { mathCache.clear(); sanitizedMath.clear() })

let slotMode = false

/** Runs `render` with formulas left as empty slots. */
export function withSlots(render) {
  slotMode = true
  try { return render() } finally { slotMode = false }
}

function renderTex(tex, display) {
  const katex = libraries.katex
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

/** The sanitised KaTeX HTML of a formula slot's key ('D' or 'I' + TeX). */
export function slotHtml(key) {
  let html = sanitizedMath.get(key)
  if (html === undefined) {
    html = sanitize(renderTex(key.slice(1), key[0] === 'D'))
    sanitizedMath.set(key, html)
  }
  return html
}

const UNESC = { '&amp;': '&', '&lt;': '<', '&gt;': '>', '&quot;': '"', '&#39;': "'", '&nbsp;': '\u00a0' }
const SLOT = /<span class="math-slot" data-k="([^"]*)"><\/span>/g

/** Sanitised HTML with empty formula slots → the same with each slot holding its formula's sanitised HTML. */
export const fillSlots = (skeleton) => skeleton.replace(SLOT, (whole, key) =>
  `<span class="math-slot" data-k="${key}">${slotHtml(key.replace(/&(?:amp|lt|gt|quot|#39|nbsp);/g, (entity) => UNESC[entity]))}</span>`)

const BLOCK_MATH = [/^ {0,3}\$\$([\s\S]+?)\$\$[ \t]*(?:\n+|$)/, /^ {0,3}\\\[([\s\S]+?)\\\][ \t]*(?:\n+|$)/]
const INLINE_MATH = [
  [/^\$\$((?:\\[\s\S]|[^\\$])+?)\$\$/, true],
  [/^\\\[([\s\S]+?)\\\]/, true],
  [/^\\\(([\s\S]+?)\\\)/, false],
  // $…$: no space just inside the dollars, and no digit right after the closing one ("$5 and $10" is money)
  [/^\$(?!\s)((?:\\[\s\S]|[^\\$\n])+?)(?<!\s)\$(?![\d$])/, false],
]

/** marked extensions for block and inline math. */
export const mathExtensions = [
  {
    name: 'blockMath',
    level: 'block',
    start(src) { // only at a line start, so "$$" inside a sentence does not cut the paragraph
      const match = /(?:^|\n) {0,3}(?:\$\$|\\\[)/.exec(src)
      return match ? match.index + (match[0][0] === '\n' ? 1 : 0) : undefined
    },
    tokenizer(src) {
      for (const pattern of BLOCK_MATH) {
        const match = pattern.exec(src)
        if (match) return { type: 'blockMath', raw: match[0], text: match[1].trim() }
      }
      return undefined
    },
    renderer: (token) => `<div class="math-display">${renderTex(token.text, true)}</div>\n`,
  },
  {
    name: 'inlineMath',
    level: 'inline', // extensions run before marked's escape rule, so "\(" is not read as an escaped "("
    start(src) {
      const match = /\$|\\\(|\\\[/.exec(src)
      return match ? match.index : undefined
    },
    tokenizer(src) {
      for (const [pattern, display] of INLINE_MATH) {
        const match = pattern.exec(src)
        if (match) return { type: 'inlineMath', raw: match[0], text: match[1].trim(), display }
      }
      return undefined
    },
    renderer: (token) => (token.display ? `<span class="math-display">${renderTex(token.text, true)}</span>` : renderTex(token.text, false)),
  },
]
