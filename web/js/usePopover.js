// A menu that opens under its button, or over it when there is more room above: `open`, show / close / toggle,
// `place` (its fixed position: no scrolling box around the button clips it); a click outside, Esc, Tab, a scroll or
// a resize closes it; arrows move between its [role^="menuitem"] entries. `button` and `menu` are template refs.
// `align: 'right'` lines the menu's right edge up with the button's (a button at the end of a row).
import { ref, nextTick, onBeforeUnmount } from 'vue'

export function usePopover(button, menu, { align = 'left' } = {}) {
  const open = ref(false)
  const place = ref({})
  function position() {
    const rect = button.value?.getBoundingClientRect()
    if (!rect) return
    const below = window.innerHeight - rect.bottom
    const room = Math.max(below, rect.top) - 12
    place.value = {
      ...(align === 'right'
        ? { right: `${Math.max(8, window.innerWidth - rect.right)}px` }
        : { left: `${Math.max(8, Math.min(rect.left, window.innerWidth - 240))}px` }),
      maxHeight: `${Math.min(420, room)}px`,
      ...(below >= Math.min(320, rect.top) ? { top: `${rect.bottom + 4}px` } : { bottom: `${window.innerHeight - rect.top + 4}px` }),
    }
  }
  const onMove = (event) => { if (!menu.value?.contains(event.target)) close(false) }
  const items = () => [...(menu.value?.querySelectorAll('[role^="menuitem"]') ?? [])]
  function onOutside(event) {
    if (!menu.value?.contains(event.target) && !button.value?.contains(event.target)) close(false)
  }
  function show({ focus = true } = {}) {
    if (open.value) return
    position()
    open.value = true
    document.addEventListener('pointerdown', onOutside, true)
    window.addEventListener('resize', onMove)
    // a scroll that was already under way when the menu opened (bringing the button into view) does not close it
    requestAnimationFrame(() => { if (open.value) window.addEventListener('scroll', onMove, true) })
    if (focus) {
      nextTick(() => {
        const list = items()
        ;(list.find((item) => item.getAttribute('aria-checked') === 'true') ?? list[0])?.focus()
      })
    }
  }
  function close(refocus = true) {
    if (!open.value) return
    open.value = false
    document.removeEventListener('pointerdown', onOutside, true)
    window.removeEventListener('resize', onMove)
    window.removeEventListener('scroll', onMove, true)
    if (refocus) button.value?.focus()
  }
  function toggle() { open.value ? close() : show() }
  function onKeydown(event) {
    const list = items()
    const index = list.indexOf(document.activeElement)
    if (event.key === 'Escape') { event.preventDefault(); event.stopPropagation(); close() }
    else if (event.key === 'ArrowDown') { event.preventDefault(); list[(index + 1) % list.length]?.focus() }
    else if (event.key === 'ArrowUp') { event.preventDefault(); list[(index - 1 + list.length) % list.length]?.focus() }
    else if (event.key === 'Home') { event.preventDefault(); list[0]?.focus() }
    else if (event.key === 'End') { event.preventDefault(); list.at(-1)?.focus() }
    else if (event.key === 'Tab') close(false)
  }
  onBeforeUnmount(() => {
    document.removeEventListener('pointerdown', onOutside, true)
    window.removeEventListener('resize', onMove)
    window.removeEventListener('scroll', onMove, true)
  })
  return { open, place, show, close, toggle, onKeydown }
}
