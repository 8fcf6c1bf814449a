// The open conversation: loading it, sending, streaming, stop, regenerate/retry, re-attaching after a reload.
import { api, ApiError } from './api.js'
import { store, toast } from './store.js'
import { navigate, chatPath } from './router.js'
import { t } from './useI18n.js'
import { upsertConversation, touchConversation, setConversationTitle } from './useConversations.js'
import { saveBlob } from './download.js'

const chat = () => store.chat
let streamCtrl = null // the AbortController of the stream being read (closing it leaves the server job running)
let loadCtrl = null

// ---- drafts: the composer's text per conversation, in sessionStorage, so a re-login or reload keeps it ----
const draftKey = (id) => `chatbox.draft.${id ?? 'new'}`
export function loadDraft(id) { try { return sessionStorage.getItem(draftKey(id)) || '' } catch { return '' } }
export function saveDraft(id, text) {
  try { text ? sessionStorage.setItem(draftKey(id), text) : sessionStorage.removeItem(draftKey(id)) } catch { /* full */ }
}

function abortStream() {
  streamCtrl?.abort()
  streamCtrl = null
  chat().streaming = false
  chat().stopping = false
}

export function resetChat() {
  abortStream()
  loadCtrl?.abort()
  Object.assign(store.chat, {
    id: null, conversation: null, messages: [], loading: false, notFound: false, loadError: null,
    streaming: false, stopping: false, sendError: null, draft: '',
  })
}

/** An answer still being written (not one left `processing` with no generation behind it). */
export const isLive = (m) => m?.role === 'assistant' && m.status === 'processing' && !m._orphan
/** A generation runs in the open conversation: the composer's button is Stop, Esc stops. */
export const isGenerating = () => chat().streaming || isLive(chat().messages.at(-1))

const same = (a, b) => a != null && b != null && String(a) === String(b)
const isCurrent = (id) => same(chat().id, id)

function describe(err) {
  if (!(err instanceof ApiError)) return String(err?.message || err)
  if (err.network) return t('error.network')
  switch (err.status) {
    case 409: return t('chat.busy')
    case 413: return t('chat.tooLong')
    case 404: return t('conv.notFound')
    case 422: return err.message || t('chat.empty')
    default: return t('chat.sendFailed', { error: err.message })
  }
}

/** Opens /c/{id}: loads the messages, and re-attaches if the last answer is still being written. */
export async function openConversation(id, { force = false } = {}) {
  if (!force && isCurrent(id) && (chat().conversation || chat().loading || chat().streaming)) return
  abortStream()
  loadCtrl?.abort()
  const ctrl = new AbortController()
  loadCtrl = ctrl
  Object.assign(store.chat, {
    id, conversation: null, messages: [], loading: true, notFound: false, loadError: null, sendError: null,
    draft: loadDraft(id),
  })
  try {
    const res = await api.getConversation(id, ctrl.signal)
    if (!isCurrent(id) || ctrl.signal.aborted) return
    chat().conversation = res.conversation
    chat().messages = res.messages || []
  } catch (e) {
    if (e?.name === 'AbortError' || !isCurrent(id)) return
    if (e instanceof ApiError && e.status === 404) chat().notFound = true
    else if (!(e instanceof ApiError && e.status === 401)) chat().loadError = e?.message || 'error'
    return
  } finally {
    if (isCurrent(id)) chat().loading = false
  }
  const last = chat().messages.at(-1)
  if (last && last.role === 'assistant' && last.status === 'processing') attach(id)
}

export function openBlank() {
  abortStream()
  loadCtrl?.abort()
  Object.assign(store.chat, {
    id: null, conversation: null, messages: [], loading: false, notFound: false, loadError: null, sendError: null,
    draft: loadDraft(null),
  })
}

async function refresh(id) {
  try {
    const res = await api.getConversation(id)
    if (!isCurrent(id) || chat().streaming) return
    chat().conversation = res.conversation
    chat().messages = res.messages || []
    // No generation runs (the server said 204) yet the answer is stored as `processing`: do not wait for it.
    const last = chat().messages.at(-1)
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
  chat().streaming = true
  let gotDone = false
  const onEvent = (name, data) => {
    if (ctrl.signal.aborted || !isCurrent(id)) return
    const msgs = chat().messages
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
      chat().stopping = false
    } else if (name === 'title') {
      if (data?.title) setConversationTitle(data.conversation_id ?? id, data.title)
    }
  }
  let attached = true
  try {
    attached = await open({ onEvent, signal: ctrl.signal })
  } finally {
    if (streamCtrl === ctrl) { streamCtrl = null; chat().streaming = false; chat().stopping = false }
  }
  return { done: gotDone, attached, aborted: ctrl.signal.aborted }
}

/** After a dropped connection: re-attach a few times, then fall back to reading the stored messages. */
async function recover(id) {
  for (let attempt = 0; attempt < 3 && isCurrent(id); attempt++) {
    await new Promise((r) => setTimeout(r, 500 * (attempt + 1)))
    if (!isCurrent(id) || chat().streaming) return
    try {
      const last = chat().messages.at(-1)
      const ctx = { assistant: last?.role === 'assistant' ? last : null }
      const r = await runStream(id, (o) => api.attach(id, o), ctx)
      if (r.aborted) return
      if (!r.attached || r.done) break
    } catch (e) {
      if (e?.name === 'AbortError') return
      if (e instanceof ApiError && e.status === 401) return
    }
  }
  if (isCurrent(id) && !chat().streaming) await refresh(id)
}

export async function attach(id) {
  const last = chat().messages.at(-1)
  const ctx = { assistant: last?.role === 'assistant' ? last : null }
  try {
    const r = await runStream(id, (o) => api.attach(id, o), ctx)
    if (r.aborted) return
    if (!r.attached) return refresh(id) // finished in the meantime
    if (!r.done) return recover(id)
  } catch (e) {
    if (e?.name === 'AbortError') return
    if (!(e instanceof ApiError && e.status === 401)) recover(id)
  }
}

export async function send(text) {
  const content = text.trim()
  if (!content || chat().streaming) return false
  chat().sendError = null
  let id = chat().id
  const draftId = id
  chat().draft = ''
  const restore = (err) => {
    saveDraft(draftId, text) // survives a redirect to the login page
    if (same(chat().id, id) || (draftId == null && chat().id == null)) {
      chat().draft = text
      if (err && !(err instanceof ApiError && err.status === 401)) chat().sendError = describe(err)
    }
  }
  if (id == null) {
    try {
      const conv = (await api.createConversation()).conversation
      id = conv.id
      upsertConversation(conv, { toTop: true })
      Object.assign(store.chat, { id, conversation: conv, messages: [], loading: false, notFound: false })
      navigate(chatPath(id))
    } catch (e) {
      restore(e)
      return false
    }
  }
  const msgs = chat().messages
  msgs.push({ id: `local-u-${Date.now()}`, _key: `k-u-${Date.now()}`, role: 'user', content, status: 'completed', error: null, created_at: new Date().toISOString() })
  const user = msgs.at(-1)
  msgs.push({ id: `local-a-${Date.now()}`, _key: `k-a-${Date.now()}`, role: 'assistant', content: '', status: 'processing', error: null, created_at: new Date().toISOString() })
  const assistant = msgs.at(-1)
  const ctx = {
    user, assistant,
    onStart: () => { saveDraft(draftId, ''); if (draftId == null) saveDraft(id, ''); touchConversation(id, { conversation: chat().conversation }) },
  }
  try {
    const r = await runStream(id, (o) => api.sendMessage(id, content, o), ctx)
    if (!r.aborted && !r.done && ctx.started) recover(id)
  } catch (e) {
    if (e?.name === 'AbortError') return true
    if (!ctx.started) {
      const list = chat().messages
      for (const m of [assistant, user]) { const i = list.indexOf(m); if (i !== -1) list.splice(i, 1) }
      restore(e)
      return false
    }
    if (!(e instanceof ApiError && e.status === 401)) recover(id)
  }
  return true
}

/** Regenerate the last answer (also Retry for a failed one). */
export async function regenerate() {
  const id = chat().id
  if (id == null || chat().streaming) return
  chat().sendError = null
  const msgs = chat().messages
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
    const r = await runStream(id, (o) => api.regenerate(id, o), ctx)
    if (!r.aborted && !r.done && ctx.started) recover(id)
  } catch (e) {
    if (e?.name === 'AbortError') return
    if (!ctx.started) {
      if (previous) Object.assign(assistant, previous)
      else msgs.splice(msgs.indexOf(assistant), 1)
      if (!(e instanceof ApiError && e.status === 401)) chat().sendError = describe(e)
      return
    }
    if (!(e instanceof ApiError && e.status === 401)) recover(id)
  }
}

export async function stop() {
  const id = chat().id
  if (id == null) return
  if (!isGenerating()) return
  chat().stopping = true
  try {
    await api.stop(id)
    if (!chat().streaming) await refresh(id) // nothing attached: read the stopped answer
  } catch (e) {
    if (!(e instanceof ApiError && e.status === 401)) toast(describe(e), 'error')
  } finally {
    if (!chat().streaming) chat().stopping = false
  }
}

/** Downloads the open conversation as Markdown (the server writes it). */
export async function exportMarkdown() {
  const id = chat().id
  if (id == null) return
  const { blob, filename } = await api.exportConversation(id)
  saveBlob(blob, filename)
}

export function useChat() {
  return { openConversation, openBlank, send, stop, regenerate, saveDraft, loadDraft, exportMarkdown }
}
