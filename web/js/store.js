// The one piece of shared state. Composables read and change it; components read it through them.
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

  sidebar: {
    conversations: [], //   [{id,title,created_at,updated_at}], newest updated first
    nextCursor: null,
    loading: false,
    loaded: false, //       first page arrived
    error: null,
    query: '', //           the search box
    drawerOpen: false, //   phone layout
  },

  chat: {
    id: null, //            the open conversation's id (null on the blank "new chat" page)
    conversation: null,
    messages: [], //        oldest first
    loading: false,
    notFound: false,
    loadError: null,
    streaming: false, //    a stream (send, regenerate or re-attach) is being read
    stopping: false,
    sendError: null, //     a pre-stream error to show above the composer
    draft: '', //           the composer's text (also kept per conversation in sessionStorage)
  },

  toasts: [], //            [{id, text, kind}]
})

let toastSeq = 0
export function toast(text, kind = 'info', ms = 4000) {
  const id = ++toastSeq
  store.toasts.push({ id, text, kind })
  setTimeout(() => {
    const i = store.toasts.findIndex((t) => t.id === id)
    if (i !== -1) store.toasts.splice(i, 1)
  }, ms)
}
