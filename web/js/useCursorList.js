// A list the server hands out a page at a time behind a cursor, with a server-side search: the sidebar's
// conversations and the admin's users. The newest request wins (search typing, reloads); an older answer is dropped.
import { ref, watch, onBeforeUnmount } from 'vue'

/**
 * `fetchPage({limit, cursor, q}, signal)` → {items, nextCursor}. `onError(error)` → true when it handled the error
 * itself (it is then not kept in `error`). Returns refs and the actions on them.
 */
export function useCursorList(fetchPage, { pageSize = 30, onError = () => false } = {}) {
  const items = ref([])
  const nextCursor = ref(null)
  const loading = ref(false)
  const loaded = ref(false) // the first page arrived
  const error = ref(null)
  const query = ref('')
  let seq = 0
  let inflight = null

  async function load(fromStart) {
    if (!fromStart && (loading.value || !nextCursor.value)) return
    const mine = ++seq
    inflight?.abort()
    const controller = new AbortController()
    inflight = controller
    loading.value = true
    error.value = null
    try {
      const page = await fetchPage({ limit: pageSize, cursor: fromStart ? null : nextCursor.value, q: query.value.trim() }, controller.signal)
      if (mine !== seq) return
      if (fromStart) items.value = page.items
      else {
        const seen = new Set(items.value.map((item) => String(item.id)))
        items.value.push(...page.items.filter((item) => !seen.has(String(item.id))))
      }
      nextCursor.value = page.nextCursor ?? null
      loaded.value = true
    } catch (failure) {
      if (mine !== seq || failure?.name === 'AbortError') return
      if (!onError(failure)) error.value = failure
    } finally {
      if (mine === seq) loading.value = false
    }
  }

  return {
    items, nextCursor, loading, loaded, error, query,
    reload: () => load(true),
    loadMore: () => load(false),
    search(text) {
      query.value = text
      return load(true)
    },
    /** Back to nothing loaded; a request under way is dropped. */
    reset() {
      seq++
      inflight?.abort()
      items.value = []
      nextCursor.value = null
      loading.value = false
      loaded.value = false
      error.value = null
      query.value = ''
    },
    /** Take an item out of the list (deleted). */
    remove(id) {
      const index = items.value.findIndex((item) => String(item.id) === String(id))
      if (index !== -1) items.value.splice(index, 1)
    },
  }
}

/** The search box of a cursor list: a ref for v-model whose changes search after `delay` ms of quiet. */
export function useSearchBox(list, delay = 300) {
  const text = ref(list.query.value)
  let timer = null
  watch(text, (value) => {
    clearTimeout(timer)
    timer = setTimeout(() => list.search(value), delay)
  })
  onBeforeUnmount(() => clearTimeout(timer))
  return text
}
