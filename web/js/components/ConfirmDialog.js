// A small modal asking to confirm (Esc or a click outside cancels; the confirm button has the focus).
import { ref, onMounted, onBeforeUnmount } from 'vue'
import { t } from '../i18n.js'

export default {
  name: 'ConfirmDialog',
  props: {
    title: { type: String, required: true },
    body: { type: String, default: '' },
    confirmLabel: { type: String, default: 'OK' },
    danger: { type: Boolean, default: false },
  },
  emits: ['confirm', 'cancel'],
  setup(props, { emit }) {
    const confirmBtn = ref(null)
    const previous = document.activeElement
    function onKeydown(event) {
      if (event.key === 'Escape') { event.preventDefault(); event.stopPropagation(); emit('cancel') }
    }
    onMounted(() => {
      confirmBtn.value?.focus()
      window.addEventListener('keydown', onKeydown, true)
    })
    onBeforeUnmount(() => {
      window.removeEventListener('keydown', onKeydown, true)
      previous?.focus?.()
    })
    return { t, confirmBtn }
  },
  template: /*html*/ `
    <div class="modal-backdrop" @click.self="$emit('cancel')">
      <div class="modal" role="alertdialog" aria-modal="true" aria-labelledby="confirm-title" aria-describedby="confirm-body">
        <h2 id="confirm-title">{{ title }}</h2>
        <p id="confirm-body">{{ body }}</p>
        <div class="modal-actions">
          <button type="button" class="btn" @click="$emit('cancel')">{{ t('common.cancel') }}</button>
          <button ref="confirmBtn" type="button" class="btn" :class="danger ? 'btn-danger' : 'btn-primary'" @click="$emit('confirm')">
            {{ confirmLabel }}
          </button>
        </div>
      </div>
    </div>`,
}
