// Reading an answer's stream (send, regenerate, re-attach) into the open chat: the events become messages, a dropped
// connection re-attaches a few times, then the stored messages are read. Closing a stream leaves the server's
// generation running.
import { api } from './api.js'
import { isUnauthorized } from './errors.js'
import { setConversationTitle } from './conversations.js'

export const same = (a, b) => a != null && b != null && String(a) === String(b)

/** A message still marked `processing` (being written, or left so by a crash). */
const isProcessing = (m) => m?.role === 'assistant' && m.status === 'processing'

/**
 * The stream reader of a chat state ({id, tree, messages, conversation, streaming, stopping}). `tree`: every message
 * of the conversation; `messages`: the path shown. `hooks.load(res)` takes a GET of the conversation,
 * `hooks.show(leafId)` shows the path to a leaf (the new messages of a `start` become the path shown).
 */
export function createAnswerStreams(chat, hooks = {}) {
  const load = hooks.load ?? ((res) => { chat.conversation = res.conversation; chat.messages = res.messages || [] })
  const show = hooks.show ?? (() => {})
  const treeOf = () => chat.tree ?? chat.messages
  let streamCtrl = null // the AbortController of the stream being read
  // Streams past their `done`, still open for the `title` event: not busy, not aborted by the next turn (the title
  // still reaches the sidebar); dropped when the page signs out (abortAll).
  const tails = new Set()
  const isCurrent = (id) => same(chat.id, id)

  function abort() {
    streamCtrl?.abort()
    streamCtrl = null
    chat.streaming = false
    chat.stopping = false
  }

  function abortAll() {
    abort()
    for (const ctrl of tails) ctrl.abort()
    tails.clear()
  }

  async function refresh(id) {
    try {
      const res = await api.getConversation(id)
      if (!isCurrent(id) || chat.streaming) return
      load(res)
      // No generation runs (the server said 204) yet an answer is stored as `processing`: do not wait for it.
      for (const message of treeOf()) if (isProcessing(message)) message._orphan = true
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
    let released = null // resolves when `done` frees the conversation (the stream may stay open for the title)
    const freed = new Promise((resolve) => { released = resolve })
    // The answer is finished: the composer is free although the stream may still bring the title.
    function release() {
      if (streamCtrl !== ctrl) return
      streamCtrl = null
      chat.streaming = false
      chat.stopping = false
      tails.add(ctrl)
      released()
    }
    const onEvent = (name, data) => {
      if (ctrl.signal.aborted) return
      if (name === 'title') { // for the sidebar even when another chat is open by now
        if (data?.title) setConversationTitle(data.conversation_id ?? id, data.title)
        return
      }
      if (gotDone || !isCurrent(id)) return
      const tree = treeOf()
      if (name === 'start') {
        ctx.started = true
        const um = data?.user_message
        if (um) {
          if (ctx.user) Object.assign(ctx.user, um)
          else if (!tree.some((m) => same(m.id, um.id))) {
            const at = ctx.assistant ? tree.indexOf(ctx.assistant) : -1
            tree.splice(at === -1 ? tree.length : at, 0, { ...um })
          }
        }
        const am = data?.assistant_message
        if (am) {
          // a finished answer is never written over by another one (a re-attach that found a different answer)
          if (!ctx.assistant || (am.id != null && ctx.assistant.status !== 'processing' && !same(ctx.assistant.id, am.id))) {
            ctx.assistant = tree.find((m) => same(m.id, am.id)) || null
            if (!ctx.assistant) { tree.push({ ...am }); ctx.assistant = tree.at(-1) }
          }
          Object.assign(ctx.assistant, am, { content: am.content ?? '', reasoning: am.reasoning ?? '' })
          // the new answer is the end of the path shown (the server moved the conversation's selection to it)
          show(ctx.assistant.id)
        }
        ctx.onStart?.()
      } else if (name === 'reasoning') {
        const message = ctx.assistant
        if (message && typeof data?.text === 'string') {
          if (message._thinkStart == null) message._thinkStart = performance.now()
          message.reasoning = (message.reasoning || '') + data.text
        }
      } else if (name === 'delta') {
        const message = ctx.assistant
        if (message && typeof data?.text === 'string') {
          // the answer starts: the thinking time is from the first reasoning piece to here (measured here)
          if (message._thinkStart != null && message._thinkMs == null) message._thinkMs = performance.now() - message._thinkStart
          message.content += data.text
        }
      } else if (name === 'done') {
        gotDone = true
        const message = ctx.assistant
        if (message && message._thinkStart != null && message._thinkMs == null) message._thinkMs = performance.now() - message._thinkStart
        if (data?.message && message) Object.assign(message, data.message)
        chat.stopping = false
        release()
      }
    }
    const reading = (async () => {
      try {
        return await open({ onEvent, signal: ctrl.signal })
      } finally {
        tails.delete(ctrl)
        if (streamCtrl === ctrl) { streamCtrl = null; chat.streaming = false; chat.stopping = false }
      }
    })()
    // After `done` the rest of the stream (the title, or a dropped connection) is no failure of this answer.
    reading.catch(() => {})
    const attached = await Promise.race([reading, freed.then(() => true)])
    return { done: gotDone, attached, aborted: ctrl.signal.aborted && !gotDone }
  }

  /** After a dropped connection: re-attach a few times, then fall back to reading the stored messages. */
  async function recover(id) {
    for (let attempt = 0; attempt < 3 && isCurrent(id); attempt++) {
      await new Promise((resolve) => setTimeout(resolve, 500 * (attempt + 1)))
      if (!isCurrent(id) || chat.streaming) return
      try {
        const ctx = { assistant: liveAnswer() }
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

  /** The answer a re-attached stream writes into: the newest one still `processing` on any branch, else the path's end. */
  function liveAnswer() {
    const live = treeOf().findLast(isProcessing)
    if (live) return live
    const last = chat.messages.at(-1)
    return last?.role === 'assistant' ? last : null
  }

  async function attach(id) {
    const ctx = { assistant: liveAnswer() }
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

  return { abort, abortAll, run: runStream, recover, attach, refresh }
}
