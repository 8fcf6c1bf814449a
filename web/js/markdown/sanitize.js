// Every piece of HTML made from model or user text goes through sanitize() (DOMPurify, configured once here)
// before it reaches the page; escapeHtml() is for text put into HTML we write ourselves.
import DOMPurify from 'dompurify'

const ESC = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }
export const escapeHtml = (text) => String(text).replace(/[&<>"']/g, (char) => ESC[char])

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
