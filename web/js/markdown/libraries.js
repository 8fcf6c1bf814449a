// The optional libraries, loaded on first need: highlight.js (code) and KaTeX (math, with its style sheet).
// When one arrives, or the UI language changes, rendered HTML must be redone: invalidate() clears every cache
// registered with onInvalidate() and bumps libsVersion, which the rendering components watch.
import { ref } from 'vue'

/** Bumped when highlight.js or KaTeX arrive, or the UI language changes. */
export const libsVersion = ref(0)
export const libraries = { hljs: null, katex: null } // null until loaded

let hljsLoading = null
let katexLoading = null
const clearers = []

/** `clear` runs on every invalidate() (a cache of rendered HTML). */
export function onInvalidate(clear) { clearers.push(clear) }

export function invalidate() {
  for (const clear of clearers) clear()
  libsVersion.value++
}

export function loadHighlight() {
  hljsLoading ??= import('reveal-highlight')
    .then((module) => { libraries.hljs = module.default().hljs; invalidate() })
    .catch((error) => console.warn('highlight.js failed to load', error))
}

export function loadKatex() {
  if (katexLoading) return
  const link = document.createElement('link')
  link.rel = 'stylesheet'
  link.href = new URL('katex.min.css', import.meta.resolve('katex')).pathname // beside katex.mjs, same version
  document.head.appendChild(link)
  katexLoading = import('katex')
    .then((module) => { libraries.katex = module.default; invalidate() })
    .catch((error) => console.warn('KaTeX failed to load', error))
}

/** Start loading the optional libraries a text will need (called as soon as a stream shows a fence or math). */
export function preloadFor(text) {
  if (!libraries.hljs && /(^|\n) {0,3}(```|~~~)/.test(text)) loadHighlight()
  if (!libraries.katex && /\$|\\\(|\\\[/.test(text)) loadKatex()
}
