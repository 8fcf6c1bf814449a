// Turns an ApiError into the sentence a page shows. The server's own message is English: in English it is shown
// as it is (it says exactly what was refused); in other languages a known status gets its translated sentence.
import { ApiError } from './api.js'
import { store } from './store.js'
import { t } from './useI18n.js'

/** `known`: {status: i18n key} for the statuses this action can meet (e.g. {409: 'admin.lastAdmin'}). */
export function errorText(err, known = {}) {
  if (!(err instanceof ApiError)) return String(err?.message || err || 'error')
  if (err.network) return t('error.network')
  const key = known[err.status]
  if (key && (store.locale !== 'en' || !err.message || err.message === `HTTP ${err.status}`)) return t(key)
  if (err.status >= 500 && store.locale !== 'en') return t('error.server', { error: err.message })
  return err.message || (key ? t(key) : `HTTP ${err.status}`)
}
