// The admin page's data: the users list (cursor paging, server-side search), the actions on one user, and the
// registration setting. State lives in the page that calls useAdmin() (one instance per visit), not globally.
import { reactive } from 'vue'
import { api, ApiError } from './api.js'
import { store } from './store.js'

const PAGE = 50

export function useAdmin() {
  const state = reactive({
    users: [], //            [{id, username, role, disabled, created_at, last_active_at, conversation_count}]
    nextCursor: null,
    loading: false,
    loaded: false,
    listError: null, //     an ApiError from loading the list
    forbidden: false, //    the server says this user is not an admin (403)
    query: '',
    registrationOpen: null, // null until loaded
    savingRegistration: false,
  })
  let seq = 0
  let ctrl = null

  function refused(e) {
    if (e instanceof ApiError && e.status === 403) {
      state.forbidden = true
      if (store.user?.role === 'admin') store.user.role = 'user' // demoted meanwhile
      return true
    }
    return false
  }

  async function loadPage(reset) {
    if (!reset && (state.loading || !state.nextCursor)) return
    const mine = ++seq
    ctrl?.abort()
    const c = new AbortController()
    ctrl = c
    state.loading = true
    state.listError = null
    try {
      const res = await api.adminUsers({ limit: PAGE, cursor: reset ? null : state.nextCursor, q: state.query.trim() }, c.signal)
      if (mine !== seq) return
      const page = res?.users ?? []
      if (reset) state.users = page
      else {
        const seen = new Set(state.users.map((u) => String(u.id)))
        state.users.push(...page.filter((u) => !seen.has(String(u.id))))
      }
      state.nextCursor = res?.next_cursor ?? null
      state.loaded = true
    } catch (e) {
      if (mine !== seq || e?.name === 'AbortError') return
      if (!refused(e)) state.listError = e
    } finally {
      if (mine === seq) state.loading = false
    }
  }

  function patchRow(id, fields) {
    const row = state.users.find((u) => String(u.id) === String(id))
    if (row) Object.assign(row, fields)
    if (store.user && String(store.user.id) === String(id) && fields.role) store.user.role = fields.role
    return row
  }

  async function update(user, patch) {
    try {
      const res = await api.adminUpdateUser(user.id, patch)
      const u = res?.user ?? {}
      return patchRow(user.id, {
        role: u.role ?? patch.role ?? user.role,
        disabled: typeof u.disabled === 'boolean' ? u.disabled : patch.disabled ?? user.disabled,
      })
    } catch (e) {
      refused(e)
      throw e
    }
  }

  return {
    state,
    reload: () => loadPage(true),
    loadMore: () => loadPage(false),
    search(q) {
      state.query = q
      return loadPage(true)
    },
    async createUser(username, password, role) {
      const res = await api.adminCreateUser(username, password, role)
      const u = res.user
      // the new account goes to the list where paging by id puts it: at the end (when the whole list is here)
      if (!state.nextCursor && !state.query.trim()) {
        state.users.push({ disabled: false, last_active_at: null, conversation_count: 0, ...u })
      }
      return u
    },
    setRole: (user, role) => update(user, { role }),
    setDisabled: (user, disabled) => update(user, { disabled }),
    resetPassword: (user, password) => api.adminResetPassword(user.id, password),
    async deleteUser(user, confirm) {
      await api.adminDeleteUser(user.id, confirm)
      const i = state.users.findIndex((u) => String(u.id) === String(user.id))
      if (i !== -1) state.users.splice(i, 1)
    },
    async loadSettings() {
      try {
        const res = await api.adminSettings()
        state.registrationOpen = !!res?.registration_open
      } catch (e) {
        if (!refused(e)) throw e
      }
    },
    async setRegistrationOpen(open) {
      state.savingRegistration = true
      try {
        const res = await api.adminUpdateSettings({ registration_open: open })
        state.registrationOpen = !!res?.registration_open
        if (store.config) store.config.registration_open = state.registrationOpen
      } catch (e) {
        refused(e)
        throw e
      } finally {
        state.savingRegistration = false
      }
    },
  }
}
