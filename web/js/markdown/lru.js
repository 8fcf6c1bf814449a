// A small least-recently-used cache (a Map in use order) for rendered HTML.
export function lru(limit) {
  const entries = new Map()
  return {
    get(key) {
      const value = entries.get(key)
      if (value !== undefined) { entries.delete(key); entries.set(key, value) }
      return value
    },
    set(key, value) {
      entries.set(key, value)
      if (entries.size > limit) entries.delete(entries.keys().next().value)
    },
    clear: () => entries.clear(),
  }
}
