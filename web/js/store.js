// The page's shared session state: who is signed in, the route, language and theme, toasts. The open chat and the
// sidebar's list have their own store modules (chat.js, conversations.js). Components read these states and change
// them only through the modules' named actions.
import { reactive } from 'vue'

export const store = reactive({
  booted: false,
  config: null, //           GET /api/config
  user: null, //             the logged-in user, or null
  sessionExpired: false, //  set by a 401 mid-session: the login page says so
  bootError: null, //       the server could not be reached at start

  route: { name: 'home', params: {}, query: {} }, // set by router.js

  locale: 'en',
  theme: 'system', //        'system' | 'light' | 'dark' (the chosen setting)
  resolvedTheme: 'light', // what is shown

  toasts: [], //            [{id, text, kind}]
})

let toastSeq = 0
export function toast(text, kind = 'info', ms = 4000) {
  const id = ++toastSeq
  store.toasts.push({ id, text, kind })
  setTimeout(() => {
    const index = store.toasts.findIndex((shown) => shown.id === id)
    if (index !== -1) store.toasts.splice(index, 1)
  }, ms)
}
