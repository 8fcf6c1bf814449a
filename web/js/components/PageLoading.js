// Shown while a page loaded on demand (account, admin) arrives, or when it could not be loaded.
import { t } from '../i18n.js'

export default {
  name: 'PageLoading',
  props: { error: { type: Object, default: null } }, // set by defineAsyncComponent when the import failed
  setup() {
    return { t, reload: () => location.reload() }
  },
  template: /*html*/ `
    <div class="center-note" :aria-busy="error ? 'false' : 'true'">
      <template v-if="error">
        <p role="alert">{{ t('error.network') }}</p>
        <button type="button" class="btn" @click="reload">{{ t('common.retry') }}</button>
      </template>
      <span v-else class="spinner"></span>
    </div>`,
}
