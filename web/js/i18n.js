// Chinese and English. Follows navigator.language until the user picks one (kept in localStorage).
import { store } from './store.js'
import { en, zh } from './appMessages.js'

const KEY = 'chatbox.locale'
export const LOCALES = [{ code: 'en', label: 'English' }, { code: 'zh-CN', label: '简体中文' }]

const dictionaries = { en, 'zh-CN': zh }

function detect() {
  const saved = localStorage.getItem(KEY)
  if (saved && dictionaries[saved]) return saved
  const langs = navigator.languages?.length ? navigator.languages : [navigator.language || 'en']
  for (const lang of langs) {
    const lower = String(lang).toLowerCase()
    if (lower.startsWith('zh')) return 'zh-CN'
    if (lower.startsWith('en')) return 'en'
  }
  return 'en'
}

function apply(locale) {
  store.locale = locale
  document.documentElement.lang = locale
}

export function initI18n() { apply(detect()) }

/** Pages loaded on demand (account, admin) bring their own strings: { en: {...}, 'zh-CN': {...} }. */
export function addMessages(messages) {
  for (const [locale, dict] of Object.entries(messages)) if (dictionaries[locale]) Object.assign(dictionaries[locale], dict)
}

export function setLocale(locale) {
  if (!dictionaries[locale]) return
  localStorage.setItem(KEY, locale)
  apply(locale)
}

/** t('key', {name: value}) in the current locale; falls back to English, then to the key. */
export function t(key, params) {
  const dict = dictionaries[store.locale] || en
  const text = dict[key] ?? en[key] ?? key
  return params ? text.replace(/\{(\w+)\}/g, (whole, name) => (params[name] != null ? String(params[name]) : whole)) : text
}

const dateFormats = new Map()
/** A date (ISO string) for people, in the UI language and the user's time zone; '' for nothing or a bad date. */
export function formatDateTime(iso, { time = true } = {}) {
  if (!iso) return ''
  const date = new Date(iso)
  if (Number.isNaN(date.getTime())) return String(iso)
  const key = `${store.locale}|${time}`
  let format = dateFormats.get(key)
  if (!format) {
    format = new Intl.DateTimeFormat(store.locale, time ? { dateStyle: 'medium', timeStyle: 'short' } : { dateStyle: 'medium' })
    dateFormats.set(key, format)
  }
  return format.format(date)
}

const relFormats = new Map()
/** "5 minutes ago" / "5 分钟前" for recent times, the date for older ones. */
export function formatRelative(iso, now = Date.now()) {
  const ts = Date.parse(iso)
  if (Number.isNaN(ts)) return iso ? String(iso) : ''
  const seconds = Math.round((now - ts) / 1000)
  if (seconds < 45) return t('time.justNow')
  let format = relFormats.get(store.locale)
  if (!format) { format = new Intl.RelativeTimeFormat(store.locale, { numeric: 'auto' }); relFormats.set(store.locale, format) }
  if (seconds < 3600) return format.format(-Math.max(1, Math.round(seconds / 60)), 'minute')
  if (seconds < 86400) return format.format(-Math.round(seconds / 3600), 'hour')
  if (seconds < 30 * 86400) return format.format(-Math.round(seconds / 86400), 'day')
  return formatDateTime(iso, { time: false })
}
