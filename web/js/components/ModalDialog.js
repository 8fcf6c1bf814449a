// A modal shell with a form inside: title, body (default slot), actions (slot "actions"). Esc or a click outside
// cancels; the first field (or the primary button) gets the focus and the focus goes back where it was after.
import { ref, onMounted, onBeforeUnmount } from 'vue'

let seq = 0

export default {
  name: 'ModalDialog',
  props: {
    title: { type: String, required: true },
    role: { type: String, default: 'dialog' }, // 'alertdialog' for destructive confirmations
    busy: { type: Boolean, default: false }, //  while a request runs: no cancelling by Esc / backdrop
  },
  emits: ['submit', 'cancel'],
  setup(props, { emit }) {
    const id = `modal-${++seq}`
    const box = ref(null)
    const previous = document.activeElement
    function cancel() { if (!props.busy) emit('cancel') }
    function onKeydown(event) {
      if (event.key === 'Escape') { event.preventDefault(); event.stopPropagation(); cancel() }
      else if (event.key === 'Tab' && box.value) { // keep the focus inside the dialog
        const items = [...box.value.querySelectorAll('input, select, textarea, button, a[href]')].filter((el) => !el.disabled)
        if (!items.length) return
        const first = items[0]
        const last = items.at(-1)
        if (event.shiftKey && document.activeElement === first) { event.preventDefault(); last.focus() }
        else if (!event.shiftKey && document.activeElement === last) { event.preventDefault(); first.focus() }
      }
    }
    onMounted(() => {
      const el = box.value?.querySelector('input:not([type=hidden]), .btn-primary, .btn-danger')
      el?.focus()
      window.addEventListener('keydown', onKeydown, true)
    })
    onBeforeUnmount(() => {
      window.removeEventListener('keydown', onKeydown, true)
      previous?.focus?.()
    })
    return { id, box, cancel }
  },
  template: /*html*/ `
    <div class="modal-backdrop" @click.self="cancel">
      <form ref="box" class="modal" :role="role" aria-modal="true" :aria-labelledby="id + '-title'" novalidate
            @submit.prevent="$emit('submit')">
        <h2 :id="id + '-title'">{{ title }}</h2>
        <div class="modal-body"><slot /></div>
        <div class="modal-actions"><slot name="actions" /></div>
      </form>
    </div>`,
}
