// A conversation's messages as a tree (each message names its `parent_id`; null: a first question or one of its
// versions). Pure functions over the flat list the server sends (oldest first): the path shown, a message's versions,
// the newest leaf below a message. Every walk is iterative and bounded by the list's length (a cycle cannot hang).

const key = (id) => (id == null ? '' : String(id))

/** Ids in creation order: server ids numerically, a local placeholder (not a number yet) after all of them. */
export function compareIds(a, b) {
  const x = Number(a), y = Number(b)
  const fx = Number.isFinite(x), fy = Number.isFinite(y)
  if (fx && fy) return x - y
  if (fx !== fy) return fx ? -1 : 1
  return String(a).localeCompare(String(b))
}

/** {byId: Map(id → message), children: Map(parent id|'' → [messages ordered by id])}. */
export function indexTree(messages) {
  const byId = new Map()
  const children = new Map()
  for (const message of messages) {
    byId.set(key(message.id), message)
    const parent = key(message.parent_id)
    let list = children.get(parent)
    if (!list) children.set(parent, (list = []))
    list.push(message)
  }
  for (const list of children.values()) list.sort((a, b) => compareIds(a.id, b.id))
  return { byId, children, size: messages.length }
}

const asIndex = (tree) => (Array.isArray(tree) ? indexTree(tree) : tree)

/** The messages from the root down to `leafId` (root first); [] when the leaf is unknown. */
export function pathTo(tree, leafId) {
  const index = asIndex(tree)
  const path = []
  let message = index.byId.get(key(leafId))
  for (let steps = 0; message && steps <= index.size; steps++) {
    path.push(message)
    if (message.parent_id == null) break
    message = index.byId.get(key(message.parent_id))
  }
  return path.reverse()
}

/** The versions of a message: the messages with the same parent (itself included), ordered by id. */
export function siblingsOf(tree, message) {
  if (!message) return []
  return asIndex(tree).children.get(key(message.parent_id)) || [message]
}

/** The newest leaf below `id` (itself when it has no children): the newest child, followed down. */
export function newestLeaf(tree, id) {
  const index = asIndex(tree)
  let message = index.byId.get(key(id))
  if (!message) return null
  for (let steps = 0; steps <= index.size; steps++) {
    const below = index.children.get(key(message.id))
    if (!below?.length) break
    message = below[below.length - 1]
  }
  return message.id
}

/** The leaf to show: `leafId` when it is a message of the tree, else the newest leaf of the newest root. */
export function leafOrDefault(tree, leafId) {
  const index = asIndex(tree)
  if (leafId != null && index.byId.has(key(leafId))) return leafId
  const roots = index.children.get('')
  return roots?.length ? newestLeaf(index, roots[roots.length - 1].id) : null
}
