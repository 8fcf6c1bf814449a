// The sidebar's store: the conversations list (cursor paging and server-side search through useCursorList), the
// phone layout's drawer, rename and delete, and keeping the list in step with the chat. Components read `sidebar`
// and call the actions below.
import { reactive } from 'vue'
import { api } from './api.js'
import { useCursorList } from './useCursorList.js'

const list = useCursorList(
  async (params, signal) => {
    const res = await api.listConversations(params, signal)
    return { items: withMatches(res), nextCursor: res?.next_cursor }
  },
  { pageSize: 30 },
)

/**
 * A search's conversations, each with `match_message_id` (the newest message whose text matched; absent when only
 * the title did), from the page's `matches: [{conversation_id, message_id}]` or a result's own field.
 */
function withMatches(res) {
  const items = res?.conversations ?? []
  const matches = new Map((res?.matches ?? []).map((match) => [String(match.conversation_id), match.message_id]))
  return items.map((conv) => {
    const hit = matches.get(String(conv.id)) ?? conv.match_message_id
    return hit != null ? { ...conv, match_message_id: hit } : conv
  })
}

/** The list's refs, read as plain properties (reactive unwraps them), and whether the drawer is open. */
export const sidebar = reactive({
  conversations: list.items, //  [{id,title,created_at,updated_at}], newest updated first
  nextCursor: list.nextCursor,
  loading: list.loading,
  loaded: list.loaded,
  error: list.error,
  query: list.query, //          the search as sent
  drawerOpen: false, //          phone layout
})

/** The list for components that page it (useInfiniteScroll) or search it (useSearchBox). */
export const conversationList = list

export const reloadConversations = list.reload

export function openDrawer() { sidebar.drawerOpen = true }
export function closeDrawer() { sidebar.drawerOpen = false }

/** Signed out: nothing loaded. */
export const resetConversations = list.reset

function byUpdatedDesc(first, second) {
  return String(second.updated_at).localeCompare(String(first.updated_at))
}
const indexOf = (id) => sidebar.conversations.findIndex((conv) => String(conv.id) === String(id))

/** Put a conversation (new, renamed, just used) at its place in the list. */
export function upsertConversation(conv, { toTop = false } = {}) {
  const conversations = sidebar.conversations
  const index = indexOf(conv.id)
  if (index !== -1) {
    Object.assign(conversations[index], conv)
    if (toTop && index !== 0) conversations.unshift(conversations.splice(index, 1)[0])
  } else if (!sidebar.query.trim()) {
    conversations.unshift({ ...conv })
    if (!toTop) conversations.sort(byUpdatedDesc)
  }
}

/** The conversation was just used: it goes to the top (`patch.conversation` adds it when the list lacks it). */
export function touchConversation(id, patch = {}) {
  const conversations = sidebar.conversations
  const index = indexOf(id)
  const updated_at = new Date().toISOString()
  if (index === -1) {
    if (patch.conversation) upsertConversation({ ...patch.conversation, updated_at }, { toTop: true })
    return
  }
  Object.assign(conversations[index], { updated_at })
  if (index !== 0) conversations.unshift(conversations.splice(index, 1)[0])
}

const titleListeners = []
/** `listener(id, title)` hears of every new title (the open chat's header keeps its own copy). */
export function onTitleChange(listener) { titleListeners.push(listener) }

/** A conversation's new title (renamed, or named by the server): the list, then the listeners. */
export function setConversationTitle(id, title) {
  const conv = sidebar.conversations.find((item) => String(item.id) === String(id))
  if (conv) conv.title = title
  for (const listener of titleListeners) listener(id, title)
}

export async function renameConversation(id, title) {
  const res = await api.renameConversation(id, title)
  const conv = res?.conversation ?? { id, title }
  setConversationTitle(id, conv.title)
  return conv
}

export async function deleteConversation(id) {
  await api.deleteConversation(id)
  list.remove(id)
}

/** Today / Yesterday / Previous 7 days / Older, by updated_at in the user's time zone. */
export function groupConversations(conversations, now = new Date()) {
  const startOfToday = new Date(now.getFullYear(), now.getMonth(), now.getDate()).getTime()
  const day = 86400000
  const groups = [
    { key: 'today', label: 'sidebar.today', items: [] },
    { key: 'yesterday', label: 'sidebar.yesterday', items: [] },
    { key: 'previous7', label: 'sidebar.previous7', items: [] },
    { key: 'older', label: 'sidebar.older', items: [] },
  ]
  for (const conv of conversations) {
    const ts = Date.parse(conv.updated_at)
    const group = Number.isNaN(ts) ? 3 : ts >= startOfToday ? 0 : ts >= startOfToday - day ? 1 : ts >= startOfToday - 7 * day ? 2 : 3
    groups[group].items.push(conv)
  }
  return groups.filter((group) => group.items.length)
}
