// Session: the server keeps it in an HttpOnly cookie; the page only knows who is logged in.
import { api, onUnauthorized, ApiError } from './api.js'
import { store } from './store.js'
import { navigate } from './router.js'
import { t } from './useI18n.js'
import { resetConversations } from './useConversations.js'
import { resetChat } from './useChat.js'

function currentPathForReturn() {
  const p = location.pathname + location.search
  return p.startsWith('/login') ? '/' : p
}

/** A 401 from any API call mid-session: the user logs in again and comes back to where they were. */
function sessionLost() {
  if (!store.user) return
  store.user = null
  store.sessionExpired = true
  resetChat({ keepDrafts: true })
  resetConversations()
  navigate(`/login?next=${encodeURIComponent(currentPathForReturn())}`)
}

export async function bootAuth() {
  onUnauthorized(sessionLost)
  const [config, me] = await Promise.allSettled([api.config(), api.me()])
  store.config = config.status === 'fulfilled' ? config.value : null
  store.user = me.status === 'fulfilled' ? me.value?.user ?? null : null
  if (me.status === 'rejected' && !(me.reason instanceof ApiError && me.reason.status === 401)) {
    store.bootError = me.reason?.message || 'error'
  }
}

/** Maps an auth error to the sentence the login page shows. */
export function authErrorMessage(err, mode) {
  if (!(err instanceof ApiError)) return String(err?.message || err)
  if (err.network) return t('error.network')
  switch (err.status) {
    case 401: return t('auth.wrongCredentials')
    case 409: return t('auth.nameTaken')
    case 403: return mode === 'register' ? t('auth.registrationClosed') : err.message
    case 429: return err.retryAfter != null ? t('auth.throttled', { seconds: err.retryAfter }) : t('auth.throttledNoWait')
    default: return err.message // 422: the server says which rule failed
  }
}

function safeNext(next) {
  // only same-app paths: never an open redirect to another origin
  return typeof next === 'string' && next.startsWith('/') && !next.startsWith('//') && !next.startsWith('/login') ? next : '/'
}

async function afterLogin(user) {
  store.user = user
  store.sessionExpired = false
  navigate(safeNext(store.route.query?.next), { replace: true })
}

/** This page is signed out (logout, account deleted): forget the user, the chats and the drafts; go to login. */
export function forgetSession() {
  store.user = null
  store.sessionExpired = false
  resetChat({ keepDrafts: false })
  resetConversations()
  try { sessionStorage.clear() } catch { /* private mode */ }
  navigate('/login', { replace: true })
}

export function useAuth() {
  return {
    async login(username, password) {
      const res = await api.login(username, password)
      await afterLogin(res.user)
    },
    async register(username, password) {
      const res = await api.register(username, password)
      await afterLogin(res.user)
    },
    async logout() {
      try { await api.logout() } catch { /* the cookie is gone either way for this page */ }
      forgetSession()
    },
    forgetSession,
  }
}
