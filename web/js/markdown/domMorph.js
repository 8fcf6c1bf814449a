// Updates the DOM of a streaming answer's unfinished block in place: the new (already sanitised) HTML is parsed
// into a template and the live element is changed only where it differs. A paragraph that grows by a few words
// then costs one text-node update instead of rebuilding (and re-laying out) every node, formulas included.
import { slotHtml } from './math.js'

const isSlot = (n) => n.nodeType === 1 && n.classList.contains('math-slot')

function same(live, wanted) {
  if (live.nodeType !== wanted.nodeType) return false
  if (live.nodeType !== 1) return true
  if (live.tagName !== wanted.tagName) return false
  return isSlot(wanted) ? isSlot(live) && live.dataset.k === wanted.dataset.k : true
}

function syncAttributes(to, from) {
  for (const { name } of [...to.attributes]) if (!from.hasAttribute(name)) to.removeAttribute(name)
  for (const { name, value } of from.attributes) if (to.getAttribute(name) !== value) to.setAttribute(name, value)
}

function fillSlots(node) {
  if (node.nodeType !== 1) return
  if (isSlot(node)) { node.innerHTML = slotHtml(node.dataset.k); return }
  for (const slot of node.querySelectorAll('.math-slot')) slot.innerHTML = slotHtml(slot.dataset.k)
}

function morphChildren(to, from) {
  let live = to.firstChild
  let wanted = from.firstChild
  while (wanted) {
    const nextWanted = wanted.nextSibling
    if (live && same(live, wanted)) {
      if (wanted.nodeType === 3 || wanted.nodeType === 8) { if (live.data !== wanted.data) live.data = wanted.data }
      else if (!isSlot(wanted)) { syncAttributes(live, wanted); morphChildren(live, wanted) }
      live = live.nextSibling
    } else {
      fillSlots(wanted)
      to.insertBefore(wanted, live) // moves the new node out of the template
    }
    wanted = nextWanted
  }
  while (live) { const next = live.nextSibling; to.removeChild(live); live = next }
}

const template = document.createElement('template')

/** Make `el`'s content equal to `html` (sanitised, with formula slots), touching only what changed. */
export function patchTail(el, html) {
  template.innerHTML = html
  morphChildren(el, template.content)
}
