// The models a user can pick (GET /api/models) and their presets (GET /api/presets), shared by the header's picker,
// the "Regenerate with…" menu, the settings panel and the blank chat's preset list. One copy for the page (loaded
// once after sign-in, reloaded on demand); useModels() / usePresets() return its refs and actions.
import { ref, computed } from 'vue'
import { api } from './api.js'

const LAST_PICK = 'chatbox.model' // the model the user picked last in this browser

const models = ref([]) //          [{id, name, connection}], ordered by connection then id
const defaultModel = ref(null) //  the server's default (id or null)
const modelsLoaded = ref(false)
const modelsError = ref(null)
let modelsLoading = null

async function loadModels({ force = false } = {}) {
  if (modelsLoading) return modelsLoading
  if (modelsLoaded.value && !force) return
  modelsLoading = (async () => {
    try {
      const res = await api.models()
      models.value = res?.models ?? []
      defaultModel.value = res?.default ?? null
      modelsError.value = null
      modelsLoaded.value = true
    } catch (error) {
      modelsError.value = error
    } finally {
      modelsLoading = null
    }
  })()
  return modelsLoading
}

/** [{connection, models: [...]}] in the server's order. */
const groups = computed(() => {
  const out = []
  for (const model of models.value) {
    const name = model.connection ?? ''
    let group = out.at(-1)
    if (!group || group.connection !== name) { group = { connection: name, models: [] }; out.push(group) }
    group.models.push(model)
  }
  return out
})

function rememberPick(id) {
  try { if (id) localStorage.setItem(LAST_PICK, id) } catch { /* storage off */ }
}
/** The model picked last in this browser, while it is still offered. */
function lastPick() {
  let id = null
  try { id = localStorage.getItem(LAST_PICK) } catch { /* storage off */ }
  return id && models.value.some((model) => model.id === id) ? id : null
}
const isAvailable = (id) => models.value.some((model) => model.id === id)
const modelName = (id) => models.value.find((model) => model.id === id)?.name ?? id

export function useModels() {
  return {
    models, groups, defaultModel, loaded: modelsLoaded, error: modelsError,
    load: loadModels, reload: () => loadModels({ force: true }), rememberPick, lastPick, isAvailable, modelName,
  }
}

const presets = ref([]) // [{id, name, model, system_prompt, temperature, created_at}], by name
const presetsLoaded = ref(false)

async function loadPresets() {
  try {
    const res = await api.presets()
    presets.value = res?.presets ?? []
    presetsLoaded.value = true
  } catch { /* the list stays as it was; the blank page simply shows none */ }
}

export function usePresets() {
  return {
    presets, loaded: presetsLoaded, load: loadPresets,
    async create(fields) {
      const preset = await api.createPreset(fields)
      const saved = preset?.preset ?? preset
      presets.value = [...presets.value.filter((item) => item.id !== saved.id), saved]
        .sort((first, second) => String(first.name).localeCompare(String(second.name)))
      return saved
    },
    async remove(id) {
      await api.deletePreset(id)
      presets.value = presets.value.filter((item) => String(item.id) !== String(id))
    },
  }
}

/** Signed out: forget what was loaded. */
export function resetModels() {
  models.value = []
  defaultModel.value = null
  modelsLoaded.value = false
  presets.value = []
  presetsLoaded.value = false
}
