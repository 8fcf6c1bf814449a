// Short notices at the bottom of the screen (announced to screen readers).
import { store } from '../store.js'

export default {
  name: 'ToastHost',
  setup() {
    return { store }
  },
  template: /*html*/ `
    <div class="toasts" role="status" aria-live="polite">
      <div v-for="toast in store.toasts" :key="toast.id" class="toast" :class="'toast-' + toast.kind">{{ toast.text }}</div>
    </div>`,
}
