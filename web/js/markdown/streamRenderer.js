// A streaming answer's Markdown: createStreamRenderer() splits the growing text into blocks at blank lines outside
// code fences and display math; a finished block is rendered + sanitised once and kept; each update re-renders only
// the last, unfinished block.
import { libsVersion } from './libraries.js'
import { renderBlocks, renderTail } from './render.js'

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
      const close = FENCE.exec(line)
      if (close && close[1][0] === fence.ch && close[1].length >= fence.len && !close[2].trim()) fence = null
      return false
    }
    if (mathEnd) {
      if (line.includes(mathEnd)) mathEnd = null
      return false
    }
    const open = FENCE.exec(line)
    if (open && !(open[1][0] === '`' && open[2].includes('`'))) { fence = { ch: open[1][0], len: open[1].length }; return false }
    const trimmed = line.trim()
    if (trimmed.startsWith('$$')) { if (trimmed.length < 4 || !trimmed.slice(2).includes('$$')) mathEnd = '$$'; return false }
    if (trimmed.startsWith('\\[')) { if (!trimmed.includes('\\]')) mathEnd = '\\]'; return false }
    return trimmed === ''
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
