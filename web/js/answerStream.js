// Reading an answer's stream (send, regenerate, re-attach) into the open chat: the events become messages, a dropped
// connection re-attaches a few times, then the stored messages are read. Closing a stream leaves the server's
// generation running.
import { api } from './api.js'
import { isUnauthorized } from './errors.js'
import { setConversationTitle } from './conversations.js'

export const same = (a, b) => a != null && b != null && String(a) === String(b)

/** The stream reader of a chat state ({id, messages, conversation, streaming, stopping}). */
export function createAnswerStreams(chat) {
  let streamCtrl = null // the AbortController of the stream being read
  const isCurrent = (id) => same(chat.id, id)

  function abort() {
    streamCtrl?.abort()
    streamCtrl = null
    chat.streaming = false
    chat.stopping = false
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
    abort()
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

  return { abort, run: runStream, recover, attach, refresh }
}
