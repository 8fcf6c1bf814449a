// The open conversation's store: loading it, sending, streaming, stop, regenerate/retry, re-attaching after a
// reload, the composer's draft, and the tree of messages (edits and regenerations are versions: the path shown runs
// from the root to the selected leaf). Components read `chat` and call the actions exported here.
import { reactive, computed } from 'vue'
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
import { indexTree, pathTo, siblingsOf, newestLeaf, leafOrDefault } from './tree.js'

const models = useModels()
let switching = null // the PATCH of a model just picked: a turn sent meanwhile waits for it

const blankChat = () => ({
  id: null, //            the open conversation's id (null on the blank "new chat" page)
  conversation: null,
  tree: [], //            every message of the conversation, oldest first (each names its parent_id)
  leafId: null, //        the end of the path shown
  messages: [], //        the path shown: from the first question down to leafId
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
  editAgain: null, //     {id, text}: an edit that was refused before it started, reopened on its question
})
export const chat = reactive(blankChat())
// Rebuilt when a message is added or gets its server id, not on every streamed piece.
const treeIndex = computed(() => indexTree(chat.tree))

/** Shows the path from the root to `leafId`. */
function show(leafId) {
  chat.leafId = leafId
  chat.messages = pathTo(treeIndex.value, leafId)
}

/** A GET of the conversation: the whole tree, and the path it remembers. */
function load(res) {
  chat.conversation = res.conversation
  const messages = res.messages || []
  // Messages with no links at all and no selection (stored before the tree, or by a server that does not link them
  // yet): read as one chain, oldest first, as they always were.
  if (res.conversation?.current_leaf_id == null && messages.length > 1 && messages.every((m) => m.parent_id == null)) {
    messages.forEach((message, i) => { message.parent_id = i ? messages[i - 1].id : null })
  }
  chat.tree = messages
  show(leafOrDefault(treeIndex.value, res.conversation?.current_leaf_id))
}

const streams = createAnswerStreams(chat, { load, show })
const isLocal = (id) => String(id).startsWith('local-')

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

/** The server's refusal of a turn whose model was removed or hidden: "The model "X" is no longer available. …" */
export const isModelGone = (error) => error?.code === 'model_unavailable'

/** A send, regenerate or stop that was refused, in the words the composer shows. */
const describe = (error) => errorText(error, {
  409: (refused) => {
    if (refused.code === 'nothing_to_regenerate') return t('chat.nothingToAnswer')
    if (refused.code === 'no_model') return t('chat.noModels')
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
    load(res)
    applyPendingFocus()
  } catch (error) {
    if (error?.name === 'AbortError' || !isCurrent(id)) return
    if (error?.status === 404) chat.notFound = true
    else if (!isUnauthorized(error)) chat.loadError = error?.message || 'error'
    return
  } finally {
    if (isCurrent(id)) chat.loading = false
  }
  if (chat.tree.some((m) => m.role === 'assistant' && m.status === 'processing')) streams.attach(id)
}

/** The versions of a message: {index, count} (count 1: none). */
export function versionsOf(message) {
  const list = siblingsOf(treeIndex.value, message)
  return { index: Math.max(0, list.indexOf(message)), count: list.length }
}

/** Shows the path to `leafId` and remembers it on the server (a reload or another device shows the same path). */
export async function selectLeaf(leafId) {
  const id = chat.id
  if (id == null || leafId == null || isLocal(leafId)) return
  show(leafId)
  if (chat.conversation) chat.conversation.current_leaf_id = leafId
  try {
    await api.selectLeaf(id, leafId)
  } catch (error) {
    if (!isUnauthorized(error) && same(chat.id, id)) toast(describe(error), 'error')
  }
}

/** "‹ 2/3 ›": shows the version `delta` away from `message` (its newest path). */
export function switchVersion(message, delta) {
  if (isGenerating()) return
  const list = siblingsOf(treeIndex.value, message)
  const target = list[list.indexOf(message) + delta]
  if (target) selectLeaf(newestLeaf(treeIndex.value, target.id))
}

// A search hit to open: the conversation shows the path through the matched message.
let pendingFocus = null

/** Opens conversation `id` (about to be navigated to) on the path through `messageId`. */
export function focusMessage(id, messageId) {
  pendingFocus = { id: String(id), messageId }
  if (isCurrent(id) && chat.conversation && !chat.loading) applyPendingFocus()
}

function applyPendingFocus() {
  const focus = pendingFocus
  if (!focus || !isCurrent(focus.id)) return
  pendingFocus = null
  const leaf = newestLeaf(treeIndex.value, focus.messageId)
  if (leaf != null && !same(leaf, chat.leafId)) selectLeaf(leaf)
}

/** The blank "new chat" page. */
export function openBlank() {
  reset({ draft: loadDraft(null) })
}

export function send(text) {
  return sendTurn(text)
}

/** Edit: the new text is a new version of `question` (a sibling: same parent), answered under it. */
export function editQuestion(question, text) {
  if (!question || isLocal(question.id)) return Promise.resolve(false)
  return sendTurn(text, { parentId: question.parent_id ?? null, edit: true, editOf: question.id })
}

/**
 * Sends a question. `parentId` undefined: after the path shown (the composer); otherwise under that message (null: a
 * new version of the first question). `edit`: the text comes from an edit box, not the composer (its draft is left).
 */
async function sendTurn(text, { parentId, edit = false, editOf = null } = {}) {
  const content = text.trim()
  if (!content || chat.streaming) return false
  chat.sendError = null
  let id = chat.id
  const draftId = id
  if (!edit) chat.draft = ''
  const restore = (err) => {
    if (!edit) saveDraft(draftId, text) // survives a redirect to the login page
    if (same(chat.id, id) || (draftId == null && chat.id == null)) {
      if (!edit) chat.draft = text
      if (err && !isUnauthorized(err)) chat.sendError = describe(err)
      if (isModelGone(err)) modelGone()
    }
  }
  if (id == null) {
    try {
      const conv = (await api.createConversation(newConversationFields())).conversation
      id = conv.id
      upsertConversation(conv, { toTop: true })
      Object.assign(chat, { id, conversation: conv, tree: [], messages: [], leafId: null, loading: false, notFound: false })
      navigate(chatPath(id))
    } catch (error) {
      restore(error)
      return false
    }
  }
  if (switching) await switching.catch(() => {})
  if (!same(chat.id, id)) return false
  const previousLeaf = chat.leafId
  const parent = parentId === undefined ? chat.messages.at(-1)?.id ?? null : parentId
  const stamp = Date.now()
  const tree = chat.tree
  tree.push({ id: `local-u-${stamp}`, _key: `k-u-${stamp}`, parent_id: parent, role: 'user', content, status: 'completed', error: null, created_at: new Date().toISOString() })
  const user = tree.at(-1)
  tree.push({ id: `local-a-${stamp}`, _key: `k-a-${stamp}`, parent_id: user.id, role: 'assistant', content: '', reasoning: '', model: chat.conversation?.model ?? null, status: 'processing', error: null, created_at: new Date().toISOString() })
  const assistant = tree.at(-1)
  show(assistant.id)
  const ctx = {
    user, assistant,
    onStart: () => {
      if (!edit) { saveDraft(draftId, ''); if (draftId == null) saveDraft(id, '') }
      touchConversation(id, { conversation: chat.conversation })
    },
  }
  try {
    const result = await streams.run(id, (o) => api.sendMessage(id, content, o, parentId), ctx)
    if (!result.aborted && !result.done && ctx.started) streams.recover(id)
  } catch (error) {
    if (error?.name === 'AbortError') return true
    if (!ctx.started) {
      if (edit && same(chat.id, id)) chat.editAgain = { id: editOf, text }
      removeLocal([assistant, user], previousLeaf)
      restore(error)
      return false
    }
    if (!isUnauthorized(error)) streams.recover(id)
  }
  return true
}

/** A turn refused before it started: its placeholders leave the tree, the path shown before comes back. */
function removeLocal(messages, previousLeaf) {
  for (const message of messages) { const index = chat.tree.indexOf(message); if (index !== -1) chat.tree.splice(index, 1) }
  show(leafOrDefault(treeIndex.value, previousLeaf))
}

/**
 * A new answer beside `target`'s (also Retry for a failed one): to the question above an answer, or to a question.
 * `target` null: the end of the path shown. `model`: with that model (the chat switches to it).
 */
export async function regenerate(target = null, model = null) {
  const id = chat.id
  if (id == null || chat.streaming) return
  chat.sendError = null
  if (switching) await switching.catch(() => {})
  if (!same(chat.id, id) || chat.streaming) return
  const message = target ?? chat.messages.at(-1)
  if (!message || isLocal(message.id)) return
  const questionId = message.role === 'assistant' ? message.parent_id : message.id
  const previousLeaf = chat.leafId
  const stamp = Date.now()
  chat.tree.push({ id: `local-a-${stamp}`, _key: `k-r-${stamp}`, parent_id: questionId ?? null, role: 'assistant', content: '', reasoning: '', model: model ?? chat.conversation?.model ?? null, status: 'processing', error: null })
  const assistant = chat.tree.at(-1)
  show(assistant.id)
  const ctx = {
    assistant,
    onStart: () => {
      touchConversation(id)
      if (model && chat.conversation && same(chat.id, id)) { chat.conversation.model = model; models.rememberPick(model) }
    },
  }
  try {
    const result = await streams.run(id, (o) => api.regenerate(id, o, model, message.id), ctx)
    if (!result.aborted && !result.done && ctx.started) streams.recover(id)
  } catch (error) {
    if (error?.name === 'AbortError') return
    if (!ctx.started) {
      removeLocal([assistant], previousLeaf)
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
