// A menu that opens under (or over) its button: `open`, show / close / toggle; a click outside, Esc or Tab closes
// it; arrows move between its [role^="menuitem"] entries. `button` and `menu` are template refs.
import { ref, nextTick, onBeforeUnmount } from 'vue'

export function usePopover(button, menu) {
  const open = ref(false)
  const items = () => [...(menu.value?.querySelectorAll('[role^="menuitem"]') ?? [])]
  function onOutside(event) {
    if (!menu.value?.contains(event.target) && !button.value?.contains(event.target)) close(false)
  }
  function show({ focus = true } = {}) {
    if (open.value) return
    open.value = true
    document.addEventListener('pointerdown', onOutside, true)
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
  onBeforeUnmount(() => document.removeEventListener('pointerdown', onOutside, true))
  return { open, show, close, toggle, onKeydown }
}
