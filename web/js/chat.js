// The open conversation's store: loading it, sending, streaming, stop, regenerate/retry, re-attaching after a
// reload, the composer's draft. Components read `chat` and call the actions exported here.
import { reactive } from 'vue'
import { api } from './api.js'
import { toast } from './store.js'
import { navigate, chatPath } from './router.js'
import { t } from './i18n.js'
import { errorText, isUnauthorized } from './errors.js'
import { upsertConversation, touchConversation, setConversationTitle, onTitleChange } from './conversations.js'
import { saveBlob } from './download.js'

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
})
export const chat = reactive(blankChat())

let streamCtrl = null // the AbortController of the stream being read (closing it leaves the server job running)
let loadCtrl = null

// ---- drafts: the composer's text per conversation, in sessionStorage, so a re-login or reload keeps it ----
const draftKey = (id) => `chatbox.draft.${id ?? 'new'}`
function loadDraft(id) { try { return sessionStorage.getItem(draftKey(id)) || '' } catch { return '' } }
function saveDraft(id, text) {
  try { text ? sessionStorage.setItem(draftKey(id), text) : sessionStorage.removeItem(draftKey(id)) } catch { /* full */ }
}

function abortStream() {
  streamCtrl?.abort()
  streamCtrl = null
  chat.streaming = false
  chat.stopping = false
}

/** The one way the chat starts over: the stream and the load under way are dropped, then `fields` are set. */
function reset(fields = {}) {
  abortStream()
  loadCtrl?.abort()
  Object.assign(chat, blankChat(), fields)
}

/** Signed out: nothing open. */
export const resetChat = () => reset()

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

const same = (a, b) => a != null && b != null && String(a) === String(b)
const isCurrent = (id) => same(chat.id, id)

/** A send, regenerate or stop that was refused, in the words the composer shows. */
const describe = (error) => errorText(error, {
  409: () => t('chat.busy'),
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
  if (last && last.role === 'assistant' && last.status === 'processing') attach(id)
}

/** The blank "new chat" page. */
export function openBlank() {
  reset({ draft: loadDraft(null) })
}

async function refresh(id) {
  try {
    const res = await api.getConversation(id)
    if (!isCurrent(id) || chat.streaming) return
    chat.conversation = res.conversation
    chat.messages = res.messages || []
    // No generation runs (the server said 204) yet the answer is stored as `processing`: do not wait for it.
    const last = chat.messages.at(-1)
    if (last?.role === 'assistant' && last.status === 'processing') last._orphan = true
  } catch { /* keep what is shown */ }
}

/**
 * Reads one stream into the open conversation. `ctx.assistant` is the message the deltas go to.
 * Returns {done} — false when the stream closed without a `done` event (dropped connection).
 */
async function runStream(id, open, ctx) {
  abortStream()
  const ctrl = new AbortController()
  streamCtrl = ctrl
  chat.streaming = true
  let gotDone = false
  const onEvent = (name, data) => {
    if (ctrl.signal.aborted || !isCurrent(id)) return
    const msgs = chat.messages
    if (name === 'start') {
      ctx.started = true
      const um = data?.user_message
      if (um) {
        if (ctx.user) Object.assign(ctx.user, um)
        else if (!msgs.some((m) => same(m.id, um.id))) msgs.splice(Math.max(0, msgs.indexOf(ctx.assistant)), 0, um)
      }
      const am = data?.assistant_message
      if (am) {
        if (!ctx.assistant) {
          ctx.assistant = msgs.find((m) => same(m.id, am.id)) || null
          if (!ctx.assistant) { msgs.push({ ...am }); ctx.assistant = msgs.at(-1) }
        }
        Object.assign(ctx.assistant, am, { content: am.content ?? '' })
      }
      ctx.onStart?.()
    } else if (name === 'delta') {
      if (ctx.assistant && typeof data?.text === 'string') ctx.assistant.content += data.text
    } else if (name === 'done') {
      gotDone = true
      if (data?.message && ctx.assistant) Object.assign(ctx.assistant, data.message)
      chat.stopping = false
    } else if (name === 'title') {
      if (data?.title) setConversationTitle(data.conversation_id ?? id, data.title)
    }
  }
  let attached = true
  try {
    attached = await open({ onEvent, signal: ctrl.signal })
  } finally {
    if (streamCtrl === ctrl) { streamCtrl = null; chat.streaming = false; chat.stopping = false }
  }
  return { done: gotDone, attached, aborted: ctrl.signal.aborted }
}

/** After a dropped connection: re-attach a few times, then fall back to reading the stored messages. */
async function recover(id) {
  for (let attempt = 0; attempt < 3 && isCurrent(id); attempt++) {
    await new Promise((resolve) => setTimeout(resolve, 500 * (attempt + 1)))
    if (!isCurrent(id) || chat.streaming) return
    try {
      const last = chat.messages.at(-1)
      const ctx = { assistant: last?.role === 'assistant' ? last : null }
      const result = await runStream(id, (o) => api.attach(id, o), ctx)
      if (result.aborted) return
      if (!result.attached || result.done) break
    } catch (error) {
      if (error?.name === 'AbortError') return
      if (isUnauthorized(error)) return
    }
  }
  if (isCurrent(id) && !chat.streaming) await refresh(id)
}

async function attach(id) {
  const last = chat.messages.at(-1)
  const ctx = { assistant: last?.role === 'assistant' ? last : null }
  try {
    const result = await runStream(id, (o) => api.attach(id, o), ctx)
    if (result.aborted) return
    if (!result.attached) return refresh(id) // finished in the meantime
    if (!result.done) return recover(id)
  } catch (error) {
    if (error?.name === 'AbortError') return
    if (!isUnauthorized(error)) recover(id)
  }
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
    }
  }
  if (id == null) {
    try {
      const conv = (await api.createConversation()).conversation
      id = conv.id
      upsertConversation(conv, { toTop: true })
      Object.assign(chat, { id, conversation: conv, messages: [], loading: false, notFound: false })
      navigate(chatPath(id))
    } catch (error) {
      restore(error)
      return false
    }
  }
  const msgs = chat.messages
  msgs.push({ id: `local-u-${Date.now()}`, _key: `k-u-${Date.now()}`, role: 'user', content, status: 'completed', error: null, created_at: new Date().toISOString() })
  const user = msgs.at(-1)
  msgs.push({ id: `local-a-${Date.now()}`, _key: `k-a-${Date.now()}`, role: 'assistant', content: '', status: 'processing', error: null, created_at: new Date().toISOString() })
  const assistant = msgs.at(-1)
  const ctx = {
    user, assistant,
    onStart: () => { saveDraft(draftId, ''); if (draftId == null) saveDraft(id, ''); touchConversation(id, { conversation: chat.conversation }) },
  }
  try {
    const result = await runStream(id, (o) => api.sendMessage(id, content, o), ctx)
    if (!result.aborted && !result.done && ctx.started) recover(id)
  } catch (error) {
    if (error?.name === 'AbortError') return true
    if (!ctx.started) {
      const list = chat.messages
      for (const message of [assistant, user]) { const index = list.indexOf(message); if (index !== -1) list.splice(index, 1) }
      restore(error)
      return false
    }
    if (!isUnauthorized(error)) recover(id)
  }
  return true
}

/** Regenerate the last answer (also Retry for a failed one). */
export async function regenerate() {
  const id = chat.id
  if (id == null || chat.streaming) return
  chat.sendError = null
  const msgs = chat.messages
  const last = msgs.at(-1)
  const previous = last?.role === 'assistant' ? { ...last } : null
  let assistant
  if (previous) {
    Object.assign(last, { content: '', status: 'processing', error: null })
    assistant = last
  } else {
    msgs.push({ id: `local-a-${Date.now()}`, _key: `k-r-${Date.now()}`, role: 'assistant', content: '', status: 'processing', error: null })
    assistant = msgs.at(-1)
  }
  const ctx = { assistant, onStart: () => touchConversation(id) }
  try {
    const result = await runStream(id, (o) => api.regenerate(id, o), ctx)
    if (!result.aborted && !result.done && ctx.started) recover(id)
  } catch (error) {
    if (error?.name === 'AbortError') return
    if (!ctx.started) {
      if (previous) Object.assign(assistant, previous)
      else msgs.splice(msgs.indexOf(assistant), 1)
      if (!isUnauthorized(error)) chat.sendError = describe(error)
      return
    }
    if (!isUnauthorized(error)) recover(id)
  }
}

export async function stop() {
  const id = chat.id
  if (id == null) return
  if (!isGenerating()) return
  chat.stopping = true
  try {
    await api.stop(id)
    if (!chat.streaming) await refresh(id) // nothing attached: read the stopped answer
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
