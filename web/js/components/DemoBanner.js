// Shown when GET /api/config says the server runs the built-in demo model: how to configure a real one.
import { ref, computed } from 'vue'
import { store } from '../store.js'
import { t } from '../i18n.js'
import AppIcon from './AppIcon.js'

const KEY = 'chatbox.demoBannerHidden'

export default {
  name: 'DemoBanner',
  components: { AppIcon },
  setup() {
    const hidden = ref(sessionStorage.getItem(KEY) === '1')
    const show = computed(() => store.config?.model?.is_demo === true && !hidden.value)
    function dismiss() {
      hidden.value = true
      sessionStorage.setItem(KEY, '1')
    }
    return { t, show, dismiss }
  },
  template: /*html*/ `
    <div v-if="show" class="demo-banner" role="note" data-testid="demo-banner">
      <AppIcon name="info" :size="18" />
      <div><strong>{{ t('demo.title') }}</strong> {{ t('demo.body') }}</div>
      <button type="button" class="icon-btn tiny" :aria-label="t('demo.dismiss')" :title="t('demo.dismiss')" @click="dismiss">
        <AppIcon name="close" :size="15" />
      </button>
    </div>`,
}
