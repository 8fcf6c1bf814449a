// The admin page's data: the users list (useCursorList: cursor paging, server-side search), the actions on one
// user, and the registration setting. State lives in the page that calls useAdmin() (one instance per visit), not
// globally. Returns refs and actions.
import { ref } from 'vue'
import { api } from './api.js'
import { store } from './store.js'
import { noteRegistration, noteOwnRole } from './auth.js'
import { useCursorList } from './useCursorList.js'

export function useAdmin() {
  const forbidden = ref(false) //        the server says this user is not an admin (403)
  const registrationOpen = ref(null) //  null until loaded
  const savingRegistration = ref(false)

  function refused(error) {
    if (error?.status === 403) {
      forbidden.value = true
      if (store.user?.role === 'admin') noteOwnRole('user') // demoted meanwhile
      return true
    }
    return false
  }

  // users: [{id, username, role, disabled, created_at, last_active_at, conversation_count}]
  const users = useCursorList(
    async (params, signal) => {
      const res = await api.adminUsers(params, signal)
      return { items: res?.users ?? [], nextCursor: res?.next_cursor }
    },
    { pageSize: 50, onError: refused },
  )

  function patchRow(id, fields) {
    const row = users.items.value.find((user) => String(user.id) === String(id))
    if (row) Object.assign(row, fields)
    if (store.user && String(store.user.id) === String(id) && fields.role) noteOwnRole(fields.role)
    return row
  }

  async function update(user, patch) {
    try {
      const res = await api.adminUpdateUser(user.id, patch)
      const saved = res?.user ?? {}
      return patchRow(user.id, {
        role: saved.role ?? patch.role ?? user.role,
        disabled: typeof saved.disabled === 'boolean' ? saved.disabled : patch.disabled ?? user.disabled,
      })
    } catch (error) {
      refused(error)
      throw error
    }
  }

  return {
    users, forbidden, registrationOpen, savingRegistration,
    async createUser(username, password, role) {
      const res = await api.adminCreateUser(username, password, role)
      const created = res.user
      // the new account goes to the list where paging by id puts it: at the end (when the whole list is here)
      if (!users.nextCursor.value && !users.query.value.trim()) {
        users.items.value.push({ disabled: false, last_active_at: null, conversation_count: 0, ...created })
      }
      return created
    },
    setRole: (user, role) => update(user, { role }),
    setDisabled: (user, disabled) => update(user, { disabled }),
    resetPassword: (user, password) => api.adminResetPassword(user.id, password),
    async deleteUser(user, confirm) {
      await api.adminDeleteUser(user.id, confirm)
      users.remove(user.id)
    },
    async loadSettings() {
      try {
        const res = await api.adminSettings()
        registrationOpen.value = !!res?.registration_open
      } catch (error) {
        if (!refused(error)) throw error
      }
    },
    async setRegistrationOpen(open) {
      savingRegistration.value = true
      try {
        const res = await api.adminUpdateSettings({ registration_open: open })
        registrationOpen.value = !!res?.registration_open
        noteRegistration(registrationOpen.value)
      } catch (error) {
        refused(error)
        throw error
      } finally {
        savingRegistration.value = false
      }
    },
  }
}
