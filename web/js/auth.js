// Session: the server keeps it in an HttpOnly cookie; the page only knows who is logged in. Actions: bootAuth,
// login, register, logout, forgetSession.
import { api, onUnauthorized } from './api.js'
import { store } from './store.js'
import { navigate } from './router.js'
import { t } from './i18n.js'
import { errorText, isUnauthorized } from './errors.js'
import { resetConversations } from './conversations.js'
import { resetChat } from './chat.js'
import { resetModels } from './useModels.js'

function currentPathForReturn() {
  const path = location.pathname + location.search
  return path.startsWith('/login') ? '/' : path
}

/** A 401 from any API call mid-session: the user logs in again and comes back to where they were. */
function sessionLost() {
  if (!store.user) return
  store.user = null
  store.sessionExpired = true
  resetChat()
  resetConversations()
  resetModels()
  navigate(`/login?next=${encodeURIComponent(currentPathForReturn())}`)
}

export async function bootAuth() {
  onUnauthorized(sessionLost)
  const [config, me] = await Promise.allSettled([api.config(), api.me()])
  store.config = config.status === 'fulfilled' ? config.value : null
  store.user = me.status === 'fulfilled' ? me.value?.user ?? null : null
  if (me.status === 'rejected' && !isUnauthorized(me.reason)) {
    store.bootError = me.reason?.message || 'error'
  }
}

/** A refused login or sign-up, in the words the login page shows. */
export const authErrorText = (error, mode) => errorText(error, {
  401: () => t('auth.wrongCredentials'),
  409: () => t('auth.nameTaken'),
  403: (refused) => (mode === 'register' ? t('auth.registrationClosed') : refused.message),
  429: (refused) => (refused.retryAfter != null ? t('auth.throttled', { seconds: refused.retryAfter }) : t('auth.throttledNoWait')),
  other: (refused) => refused.message, // 422: the server says which rule failed
})

/** The server says registration is open or closed (an admin's switch, a refused sign-up): the login page follows. */
export function noteRegistration(open) {
  if (store.config) store.config.registration_open = open
}

/** The signed-in user's role changed (made or unmade admin by an admin, maybe themselves). */
export function noteOwnRole(role) {
  if (store.user) store.user.role = role
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
  resetChat()
  resetConversations()
  resetModels()
  try { sessionStorage.clear() } catch { /* private mode */ }
  navigate('/login', { replace: true })
}

export async function login(username, password) {
  const res = await api.login(username, password)
  await afterLogin(res.user)
}

export async function register(username, password) {
  const res = await api.register(username, password)
  await afterLogin(res.user)
}

export async function logout() {
  try { await api.logout() } catch { /* the cookie is gone either way for this page */ }
  forgetSession()
}
