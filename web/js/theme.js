// Light / dark: follows the system until the user picks one (kept in localStorage).
import { store } from './store.js'

const KEY = 'chatbox.theme'
const ORDER = ['system', 'dark', 'light']
let media = null

function apply() {
  const dark = store.theme === 'dark' || (store.theme === 'system' && media?.matches)
  store.resolvedTheme = dark ? 'dark' : 'light'
  const root = document.documentElement
  root.dataset.theme = store.resolvedTheme
  root.style.colorScheme = store.resolvedTheme
}

export function initTheme() {
  const saved = localStorage.getItem(KEY)
  store.theme = ORDER.includes(saved) ? saved : 'system'
  media = window.matchMedia?.('(prefers-color-scheme: dark)') ?? null
  media?.addEventListener?.('change', apply)
  apply()
}

function setTheme(theme) {
  if (!ORDER.includes(theme)) return
  store.theme = theme
  if (theme === 'system') localStorage.removeItem(KEY)
  else localStorage.setItem(KEY, theme)
  apply()
}

/** system → dark → light → system */
export const cycleTheme = () => setTheme(ORDER[(ORDER.indexOf(store.theme) + 1) % ORDER.length])
