// The signed-in user's own account: password, sessions, deleting the account, and taking the history out
// (a JSON export of everything) and back in (import). Downloads are saved with download.js.
import { ref } from 'vue'
import { api } from './api.js'
import { saveBlob } from './download.js'
import { forgetSession } from './auth.js'
import { reloadConversations } from './conversations.js'

/** The largest file the server takes (50 MB); bigger ones are refused before they are read. */
const MAX_IMPORT_BYTES = 50 * 1024 * 1024

/** Reads one file as text (File.text(), with FileReader for older browsers). */
function readText(file) {
  if (typeof file.text === 'function') return file.text()
  return new Promise((resolve, reject) => {
    const reader = new FileReader()
    reader.onload = () => resolve(String(reader.result))
    reader.onerror = () => reject(reader.error || new Error('read failed'))
    reader.readAsText(file)
  })
}

export class ImportTooLarge extends Error {
  constructor(size) { super('too large'); this.name = 'ImportTooLarge'; this.size = size }
}

export function useAccount() {
  const sessions = ref([]) //         the signed-in sessions, as the server lists them
  const sessionsLoading = ref(false)
  const sessionsLoaded = ref(false)
  const sessionsError = ref(null) //  an ApiError from loading them

  async function loadSessions() {
    sessionsLoading.value = true
    sessionsError.value = null
    try {
      const res = await api.sessions()
      sessions.value = res?.sessions ?? []
      sessionsLoaded.value = true
    } catch (error) {
      sessionsError.value = error
    } finally {
      sessionsLoading.value = false
    }
  }

  return {
    sessions, sessionsLoading, sessionsLoaded, sessionsError,
    loadSessions,
    async revokeSession(id) {
      await api.revokeSession(id)
      const index = sessions.value.findIndex((session) => String(session.id) === String(id))
      if (index !== -1) sessions.value.splice(index, 1)
    },
    async changePassword(current, next) {
      await api.changePassword(current, next)
      await loadSessions() // the others were signed out
    },
    async deleteAccount(password) {
      await api.deleteAccount(password)
      forgetSession()
    },
    async exportAll() {
      const { blob, filename } = await api.exportAll()
      saveBlob(blob, filename)
    },
    /** Reads the file and sends it; resolves to the server's report. The sidebar then shows what came in. */
    async importFile(file) {
      if (file.size > MAX_IMPORT_BYTES) throw new ImportTooLarge(file.size)
      const text = await readText(file)
      const report = await api.importHistory(text)
      if (report?.imported) reloadConversations()
      return report
    },
  }
}
