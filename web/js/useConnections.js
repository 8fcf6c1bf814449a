// The admin page's connections and model settings: GET/POST/PATCH/DELETE /api/admin/connections, refresh, and
// GET/PATCH /api/admin/models (default model, title model, hidden models). State lives in the page that calls
// useConnections(). Returns refs and actions; a change to the connections reloads the models (and the picker's list).
import { ref } from 'vue'
import { api } from './api.js'
import { useModels } from './useModels.js'

/** "Name: value" lines → {Name: value} (blank lines skipped; a line without a colon is an error). */
export function parseHeaders(text) {
  const headers = {}
  for (const raw of String(text || '').split(/\r?\n/)) {
    const line = raw.trim()
    if (!line) continue
    const colon = line.indexOf(':')
    if (colon <= 0) throw new Error(line)
    headers[line.slice(0, colon).trim()] = line.slice(colon + 1).trim()
  }
  return headers
}
export const formatHeaders = (headers) => Object.entries(headers || {}).map(([name, value]) => `${name}: ${value}`).join('\n')
/** Model ids typed one a line or separated by commas. */
export const parseModelIds = (text) => [...new Set(String(text || '').split(/[\n,]/).map((id) => id.trim()).filter(Boolean))]

export function useConnections() {
  const connections = ref([]) // Connection JSON (never an api_key)
  const models = ref([]) //      [{id, name, connection, hidden}]
  const defaultModel = ref(null)
  const titleModel = ref(null)
  const loading = ref(false)
  const pickerModels = useModels()

  function applyModels(res) {
    models.value = res?.models ?? []
    defaultModel.value = res?.default_model ?? null
    titleModel.value = res?.title_model ?? null
  }
  async function loadModels() {
    applyModels(await api.adminModels())
    pickerModels.reload()
  }
  async function load() {
    loading.value = true
    try {
      const [conns, mods] = await Promise.all([api.adminConnections(), api.adminModels()])
      connections.value = conns?.connections ?? []
      applyModels(mods)
    } finally {
      loading.value = false
    }
  }
  function put(connection) {
    const index = connections.value.findIndex((item) => String(item.id) === String(connection.id))
    if (index === -1) connections.value.push(connection)
    else connections.value.splice(index, 1, connection)
    return connection
  }
  const unwrap = (res) => res?.connection ?? res

  return {
    connections, models, defaultModel, titleModel, loading, load,
    async create(fields) {
      const saved = put(unwrap(await api.adminCreateConnection(fields)))
      await loadModels()
      return saved
    },
    async update(id, patch) {
      const saved = put(unwrap(await api.adminUpdateConnection(id, patch)))
      await loadModels()
      return saved
    },
    async remove(id) {
      await api.adminDeleteConnection(id)
      connections.value = connections.value.filter((item) => String(item.id) !== String(id))
      await loadModels()
    },
    async refresh(id) {
      const saved = put(unwrap(await api.adminRefreshConnection(id)))
      await loadModels()
      return saved
    },
    async updateModels(patch) {
      applyModels(await api.adminUpdateModels(patch))
      pickerModels.reload()
    },
  }
}
