// The chat's settings panel and presets act on the open chat through these (loaded with the panel and the preset
// list, not with the chat): save the conversation's system prompt and temperature, start a chat from a preset.
import { api } from './api.js'
import { chat } from './chat.js'
import { same } from './answerStream.js'
import { navigate, chatPath } from './router.js'
import { upsertConversation } from './conversations.js'
import { useModels } from './useModels.js'

const models = useModels()

/** The settings panel's {system_prompt, temperature} (null: the server's default). */
export async function saveSettings({ system_prompt: systemPrompt, temperature }) {
  const id = chat.id
  const patch = { system_prompt: systemPrompt || null, temperature: temperature ?? null }
  if (id == null) { Object.assign(chat.pending, patch); return }
  const res = await api.updateConversation(id, patch)
  if (same(chat.id, id) && chat.conversation) Object.assign(chat.conversation, res?.conversation ?? patch)
}

/** A new chat with a preset's model, system prompt and temperature: created at once, then opened. */
export async function startFromPreset(preset) {
  const fields = {}
  if (preset.model) fields.model = preset.model
  if (preset.system_prompt) fields.system_prompt = preset.system_prompt
  if (preset.temperature != null) fields.temperature = preset.temperature
  const conv = (await api.createConversation(fields)).conversation
  upsertConversation(conv, { toTop: true })
  if (conv.model) models.rememberPick(conv.model)
  navigate(chatPath(conv.id))
  return conv
}
