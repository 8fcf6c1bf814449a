// Updates the DOM of a streaming answer's unfinished block in place: the new (already sanitised) HTML is parsed
// into a template and the live element is changed only where it differs. A paragraph that grows by a few words
// then costs one text-node update instead of rebuilding (and re-laying out) every node, formulas included.
import { slotHtml } from './markdown.js'

const isSlot = (n) => n.nodeType === 1 && n.classList.contains('math-slot')

function same(a, b) {
  if (a.nodeType !== b.nodeType) return false
  if (a.nodeType !== 1) return true
  if (a.tagName !== b.tagName) return false
  return isSlot(b) ? isSlot(a) && a.dataset.k === b.dataset.k : true
}

function syncAttributes(to, from) {
  for (const { name } of [...to.attributes]) if (!from.hasAttribute(name)) to.removeAttribute(name)
  for (const { name, value } of from.attributes) if (to.getAttribute(name) !== value) to.setAttribute(name, value)
}

function fillSlots(node) {
  if (node.nodeType !== 1) return
  if (isSlot(node)) { node.innerHTML = slotHtml(node.dataset.k); return }
  for (const s of node.querySelectorAll('.math-slot')) s.innerHTML = slotHtml(s.dataset.k)
}

function morphChildren(to, from) {
  let t = to.firstChild
  let f = from.firstChild
  while (f) {
    const nextF = f.nextSibling
    if (t && same(t, f)) {
      if (f.nodeType === 3 || f.nodeType === 8) { if (t.data !== f.data) t.data = f.data }
      else if (!isSlot(f)) { syncAttributes(t, f); morphChildren(t, f) }
      t = t.nextSibling
    } else {
      fillSlots(f)
      to.insertBefore(f, t) // moves the new node out of the template
    }
    f = nextF
  }
  while (t) { const next = t.nextSibling; to.removeChild(t); t = next }
}

const template = document.createElement('template')

/** Make `el`'s content equal to `html` (sanitised, with formula slots), touching only what changed. */
export function patchTail(el, html) {
  template.innerHTML = html
  morphChildren(el, template.content)
}
