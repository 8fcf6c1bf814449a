// The open conversation's store: loading it, sending, streaming, stop, regenerate/retry, re-attaching after a
// reload, the composer's draft. Components read `chat` and call the actions exported here.
import { reactive } from 'vue'
import { api } from './api.js'
import { store, toast } from './store.js'
import { navigate, chatPath } from './router.js'
import { t } from './i18n.js'
import { errorText, isUnauthorized } from './errors.js'
import { upsertConversation, touchConversation, onTitleChange } from './conversations.js'
import { createAnswerStreams, same } from './answerStream.js'
import { loadDraft, saveDraft } from './drafts.js'
import { saveBlob } from './download.js'
import { useModels } from './useModels.js'

const models = useModels()
let switching = null // the PATCH of a model just picked: a turn sent meanwhile waits for it

const blankChat = () => ({
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
  // the blank page's choices, sent when its first message creates the conversation (model null: the server's pick,
  // i.e. the user's last choice, else the default)
  pending: { model: null, system_prompt: null, temperature: null },
  pickerRequest: 0, //    incremented to open the model picker (a turn was refused: its model is gone)
})
export const chat = reactive(blankChat())
const streams = createAnswerStreams(chat)

let loadCtrl = null

/** The one way the chat starts over: the stream and the load under way are dropped, then `fields` are set. */
function reset(fields = {}) {
  streams.abort()
  loadCtrl?.abort()
  Object.assign(chat, blankChat(), fields)
}

/** Signed out: nothing open, no stream left open for a title. */
export function resetChat() {
  streams.abortAll()
  reset()
}

/** The composer's text; `save: false` leaves sessionStorage as it is (a suggestion not yet edited). */
export function setDraft(text, { save = true } = {}) {
  chat.draft = text
  if (save) saveDraft(chat.id, text)
}

// A new title (renamed in the sidebar, or named by the server) reaches the open chat's header.
onTitleChange((id, title) => {
  if (chat.conversation && String(chat.conversation.id) === String(id)) chat.conversation.title = title
})

/** An answer still being written (not one left `processing` with no generation behind it). */
const isLive = (m) => m?.role === 'assistant' && m.status === 'processing' && !m._orphan
/** A generation runs in the open conversation: the composer's button is Stop, Esc stops. */
export const isGenerating = () => chat.streaming || isLive(chat.messages.at(-1))

const isCurrent = (id) => same(chat.id, id)

/** The server's 409 for a turn whose model was removed or hidden: "The model "X" is no longer available. …" */
export const isModelGone = (error) => error?.status === 409 && /no longer available/i.test(error?.message || '')

/** A send, regenerate or stop that was refused, in the words the composer shows. */
const describe = (error) => errorText(error, {
  409: (refused) => {
    if (!isModelGone(refused)) return t('chat.busy')
    const name = refused.message.match(/"([^"]+)"/)?.[1] ?? ''
    return store.locale === 'en' ? refused.message : t('chat.modelGone', { model: name })
  },
  413: () => t('chat.tooLong'),
  404: () => t('conv.notFound'),
  422: (refused) => refused.message || t('chat.empty'),
  other: (refused) => t('chat.sendFailed', { error: refused.message }),
})

/** Opens /c/{id}: loads the messages, and re-attaches if the last answer is still being written. */
export async function openConversation(id, { force = false } = {}) {
  if (!force && isCurrent(id) && (chat.conversation || chat.loading || chat.streaming)) return
  reset({ id, loading: true, draft: loadDraft(id) })
  const ctrl = new AbortController()
  loadCtrl = ctrl
  try {
    const res = await api.getConversation(id, ctrl.signal)
    if (!isCurrent(id) || ctrl.signal.aborted) return
    chat.conversation = res.conversation
    chat.messages = res.messages || []
  } catch (error) {
    if (error?.name === 'AbortError' || !isCurrent(id)) return
    if (error?.status === 404) chat.notFound = true
    else if (!isUnauthorized(error)) chat.loadError = error?.message || 'error'
    return
  } finally {
    if (isCurrent(id)) chat.loading = false
  }
  const last = chat.messages.at(-1)
  if (last && last.role === 'assistant' && last.status === 'processing') streams.attach(id)
}

/** The blank "new chat" page. */
export function openBlank() {
  reset({ draft: loadDraft(null) })
}

export async function send(text) {
  const content = text.trim()
  if (!content || chat.streaming) return false
  chat.sendError = null
  let id = chat.id
  const draftId = id
  chat.draft = ''
  const restore = (err) => {
    saveDraft(draftId, text) // survives a redirect to the login page
    if (same(chat.id, id) || (draftId == null && chat.id == null)) {
      chat.draft = text
      if (err && !isUnauthorized(err)) chat.sendError = describe(err)
      if (isModelGone(err)) modelGone()
    }
  }
  if (id == null) {
    try {
      const conv = (await api.createConversation(newConversationFields())).conversation
      id = conv.id
      upsertConversation(conv, { toTop: true })
      Object.assign(chat, { id, conversation: conv, messages: [], loading: false, notFound: false })
      navigate(chatPath(id))
    } catch (error) {
      restore(error)
      return false
    }
  }
  if (switching) await switching.catch(() => {})
  const msgs = chat.messages
  msgs.push({ id: `local-u-${Date.now()}`, _key: `k-u-${Date.now()}`, role: 'user', content, status: 'completed', error: null, created_at: new Date().toISOString() })
  const user = msgs.at(-1)
  msgs.push({ id: `local-a-${Date.now()}`, _key: `k-a-${Date.now()}`, role: 'assistant', content: '', reasoning: '', model: chat.conversation?.model ?? null, status: 'processing', error: null, created_at: new Date().toISOString() })
  const assistant = msgs.at(-1)
  const ctx = {
    user, assistant,
    onStart: () => { saveDraft(draftId, ''); if (draftId == null) saveDraft(id, ''); touchConversation(id, { conversation: chat.conversation }) },
  }
  try {
    const result = await streams.run(id, (o) => api.sendMessage(id, content, o), ctx)
    if (!result.aborted && !result.done && ctx.started) streams.recover(id)
  } catch (error) {
    if (error?.name === 'AbortError') return true
    if (!ctx.started) {
      const list = chat.messages
      for (const message of [assistant, user]) { const index = list.indexOf(message); if (index !== -1) list.splice(index, 1) }
      restore(error)
      return false
    }
    if (!isUnauthorized(error)) streams.recover(id)
  }
  return true
}

/** Regenerate the last answer (also Retry for a failed one); `model`: with that model (the chat switches to it). */
export async function regenerate(model = null) {
  const id = chat.id
  if (id == null || chat.streaming) return
  chat.sendError = null
  if (switching) await switching.catch(() => {})
  if (!same(chat.id, id) || chat.streaming) return
  const msgs = chat.messages
  const last = msgs.at(-1)
  const previous = last?.role === 'assistant' ? { ...last } : null
  let assistant
  if (previous) {
    Object.assign(last, { content: '', reasoning: '', status: 'processing', error: null, usage: null, _thinkStart: null, _thinkMs: null, ...(model ? { model } : {}) })
    assistant = last
  } else {
    msgs.push({ id: `local-a-${Date.now()}`, _key: `k-r-${Date.now()}`, role: 'assistant', content: '', reasoning: '', model: model ?? chat.conversation?.model ?? null, status: 'processing', error: null })
    assistant = msgs.at(-1)
  }
  const ctx = {
    assistant,
    onStart: () => {
      touchConversation(id)
      if (model && chat.conversation && same(chat.id, id)) { chat.conversation.model = model; models.rememberPick(model) }
    },
  }
  try {
    const result = await streams.run(id, (o) => api.regenerate(id, o, model), ctx)
    if (!result.aborted && !result.done && ctx.started) streams.recover(id)
  } catch (error) {
    if (error?.name === 'AbortError') return
    if (!ctx.started) {
      if (previous) Object.assign(assistant, previous)
      else msgs.splice(msgs.indexOf(assistant), 1)
      if (!isUnauthorized(error)) chat.sendError = describe(error)
      if (isModelGone(error)) modelGone()
      return
    }
    if (!isUnauthorized(error)) streams.recover(id)
  }
}

export async function stop() {
  const id = chat.id
  if (id == null) return
  if (!isGenerating()) return
  chat.stopping = true
  try {
    await api.stop(id)
    if (!chat.streaming) await streams.refresh(id) // nothing attached: read the stopped answer
  } catch (error) {
    if (!isUnauthorized(error)) toast(describe(error), 'error')
  } finally {
    if (!chat.streaming) chat.stopping = false
  }
}

/** Downloads the open conversation as Markdown (the server writes it). */
export async function exportMarkdown() {
  const id = chat.id
  if (id == null) return
  const { blob, filename } = await api.exportConversation(id)
  saveBlob(blob, filename)
}

/** The fields of the conversation the blank page's first message creates. */
function newConversationFields() {
  const { model, system_prompt: systemPrompt, temperature } = chat.pending
  const fields = {}
  const pick = model ?? models.lastPick()
  if (pick) fields.model = pick
  if (systemPrompt) fields.system_prompt = systemPrompt
  if (temperature != null) fields.temperature = temperature
  return fields
}

/** The turn was refused because its model is gone: the list is read again and the picker opens. */
function modelGone() {
  models.reload()
  chat.pickerRequest++
}

/**
 * The model the header's picker shows: the conversation's (one from before models were chosen per chat answers with
 * the default), or on the blank page the one its first message will use.
 */
export function currentModel() {
  if (chat.id != null) return chat.conversation ? chat.conversation.model ?? models.defaultModel.value : null
  return chat.pending.model ?? models.lastPick() ?? models.defaultModel.value
}

/** Picks the model: the open conversation is switched (from its next turn), the blank page keeps it for its first. */
export async function setModel(model) {
  models.rememberPick(model)
  const id = chat.id
  if (id == null) { chat.pending.model = model; return }
  const saving = api.updateConversation(id, { model })
  switching = saving
  try {
    const res = await saving
    if (same(chat.id, id) && chat.conversation) Object.assign(chat.conversation, res?.conversation ?? { model })
    if (chat.sendError) chat.sendError = null
  } finally {
    if (switching === saving) switching = null
  }
}
