// The sidebar's list: cursor paging, server-side search, rename, delete, and keeping it in step with the chat.
import { api } from './api.js'
import { store } from './store.js'

const PAGE = 30
let seq = 0 // the newest list request wins (search typing, reloads)
let inflight = null

const sb = () => store.sidebar

export function resetConversations() {
  seq++
  inflight?.abort()
  Object.assign(store.sidebar, { conversations: [], nextCursor: null, loading: false, loaded: false, error: null, query: '' })
}

function byUpdatedDesc(a, b) {
  return String(b.updated_at).localeCompare(String(a.updated_at))
}

async function loadPage({ reset }) {
  const s = sb()
  if (!reset && (s.loading || !s.nextCursor)) return
  const mine = ++seq
  inflight?.abort()
  const ctrl = new AbortController()
  inflight = ctrl
  s.loading = true
  s.error = null
  try {
    const res = await api.listConversations({ limit: PAGE, cursor: reset ? null : s.nextCursor, q: s.query.trim() }, ctrl.signal)
    if (mine !== seq) return
    const page = res?.conversations ?? []
    if (reset) s.conversations = page
    else {
      const seen = new Set(s.conversations.map((c) => String(c.id)))
      s.conversations.push(...page.filter((c) => !seen.has(String(c.id))))
    }
    s.nextCursor = res?.next_cursor ?? null
    s.loaded = true
  } catch (e) {
    if (mine !== seq || e?.name === 'AbortError') return
    s.error = e?.message || 'error'
  } finally {
    if (mine === seq) s.loading = false
  }
}

/** Put a conversation (new, renamed, just used) at its place in the list. */
export function upsertConversation(conv, { toTop = false } = {}) {
  const list = sb().conversations
  const i = list.findIndex((c) => String(c.id) === String(conv.id))
  if (i !== -1) {
    Object.assign(list[i], conv)
    if (toTop && i !== 0) list.unshift(list.splice(i, 1)[0])
  } else if (!sb().query.trim()) {
    list.unshift({ ...conv })
    if (!toTop) list.sort(byUpdatedDesc)
  }
}

export function touchConversation(id, patch = {}) {
  const list = sb().conversations
  const i = list.findIndex((c) => String(c.id) === String(id))
  const updated_at = new Date().toISOString()
  if (i === -1) {
    if (patch.conversation) upsertConversation({ ...patch.conversation, updated_at }, { toTop: true })
    return
  }
  Object.assign(list[i], { updated_at }, patch.fields || {})
  if (i !== 0) list.unshift(list.splice(i, 1)[0])
}

export function setConversationTitle(id, title) {
  const c = sb().conversations.find((x) => String(x.id) === String(id))
  if (c) c.title = title
  if (store.chat.conversation && String(store.chat.conversation.id) === String(id)) store.chat.conversation.title = title
}

export function useConversations() {
  return {
    reload: () => loadPage({ reset: true }),
    loadMore: () => loadPage({ reset: false }),
    search(q) {
      sb().query = q
      return loadPage({ reset: true })
    },
    async create() {
      const res = await api.createConversation()
      const conv = res.conversation
      upsertConversation(conv, { toTop: true })
      return conv
    },
    async rename(id, title) {
      const res = await api.renameConversation(id, title)
      const conv = res?.conversation ?? { id, title }
      setConversationTitle(id, conv.title)
      return conv
    },
    async remove(id) {
      await api.deleteConversation(id)
      const list = sb().conversations
      const i = list.findIndex((c) => String(c.id) === String(id))
      if (i !== -1) list.splice(i, 1)
    },
  }
}

/** Today / Yesterday / Previous 7 days / Older, by updated_at in the user's time zone. */
export function groupConversations(list, now = new Date()) {
  const startOfToday = new Date(now.getFullYear(), now.getMonth(), now.getDate()).getTime()
  const day = 86400000
  const groups = [
    { key: 'today', label: 'sidebar.today', items: [] },
    { key: 'yesterday', label: 'sidebar.yesterday', items: [] },
    { key: 'previous7', label: 'sidebar.previous7', items: [] },
    { key: 'older', label: 'sidebar.older', items: [] },
  ]
  for (const c of list) {
    const ts = Date.parse(c.updated_at)
    const g = Number.isNaN(ts) ? 3 : ts >= startOfToday ? 0 : ts >= startOfToday - day ? 1 : ts >= startOfToday - 7 * day ? 2 : 3
    groups[g].items.push(c)
  }
  return groups.filter((g) => g.items.length)
}
