// One error vocabulary for the page: errorText(error) is the sentence a page shows, isUnauthorized(error) says
// whether a 401 already sent the user to the login page (then there is nothing more to show).
// The server's own message is English: in English it is shown as it is (it says exactly what was refused); in
// other languages a known status gets its translated sentence.
import { ApiError } from './api.js'
import { store } from './store.js'
import { t } from './i18n.js'

/** The request was refused for want of a session: api.js has already sent the page to the login screen. */
export const isUnauthorized = (error) => error instanceof ApiError && error.status === 401

/**
 * `known`: {status: i18n key, or a function (error) → sentence} for the statuses this action can meet
 * (e.g. {409: 'admin.lastAdmin'}); a function always wins over the server's message; `known.other`, a function,
 * is used for any other status.
 */
export function errorText(error, known = {}) {
  if (!(error instanceof ApiError)) return String(error?.message || error || 'error')
  if (error.network) return t('error.network')
  const entry = known[error.status] ?? known.other
  if (typeof entry === 'function') return entry(error)
  if (entry && (store.locale !== 'en' || !error.message || error.message === `HTTP ${error.status}`)) return t(entry)
  if (error.status >= 500 && store.locale !== 'en') return t('error.server', { error: error.message })
  return error.message || (entry ? t(entry) : `HTTP ${error.status}`)
}
