// Loads the next page of a cursor list (useCursorList) when `sentinel`, an element after the list, comes within
// `margin` px of the scrolling box's visible part; and again after a page arrives while it is still that close
// (a tall screen).
import { watch, nextTick, onBeforeUnmount } from 'vue'

/** `root(sentinelElement)` → the scrolling box (null: the viewport). */
export function useInfiniteScroll(sentinel, list, { root, margin = 200 }) {
  let observer = null

  function observe(element) {
    observer?.disconnect()
    observer = null
    if (!element) return
    observer = new IntersectionObserver((entries) => {
      if (entries.some((entry) => entry.isIntersecting) && list.nextCursor.value && !list.loading.value) list.loadMore()
    }, { root: root(element), rootMargin: `${margin}px` })
    observer.observe(element)
  }
  watch(sentinel, observe, { immediate: true, flush: 'post' })

  watch(list.loading, (loading) => {
    if (loading) return
    nextTick(() => {
      const element = sentinel.value
      const box = element && root(element)
      if (element && box && list.nextCursor.value &&
          element.getBoundingClientRect().top - box.getBoundingClientRect().bottom < margin) list.loadMore()
    })
  })

  onBeforeUnmount(() => observer?.disconnect())
}
