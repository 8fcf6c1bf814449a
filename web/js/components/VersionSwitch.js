// "‹ 2/3 ›" under a question or an answer that has other versions (edits, regenerations): switching shows that
// version's newest path and remembers it.
import { computed } from 'vue'
import { t } from '../i18n.js'
import { versionsOf, switchVersion } from '../chat.js'
import AppIcon from './AppIcon.js'

export default {
  name: 'VersionSwitch',
  components: { AppIcon },
  props: {
    message: { type: Object, required: true },
    busy: { type: Boolean, default: false },
  },
  setup(props) {
    const versions = computed(() => versionsOf(props.message))
    return { t, versions, go: (delta) => switchVersion(props.message, delta) }
  },
  template: /*html*/ `
    <span v-if="versions.count > 1" class="version-switch" data-testid="versions" role="group"
          :aria-label="t('chat.versionOf', { n: versions.index + 1, count: versions.count })">
      <button type="button" class="icon-btn tiny" data-testid="version-prev" :disabled="busy || versions.index === 0"
              :aria-label="t('chat.versionPrev')" :title="t('chat.versionPrev')" @click="go(-1)">
        <AppIcon name="chevronLeft" :size="15" />
      </button>
      <span class="version-count" data-testid="version-count">{{ versions.index + 1 }}/{{ versions.count }}</span>
      <button type="button" class="icon-btn tiny" data-testid="version-next" :disabled="busy || versions.index === versions.count - 1"
              :aria-label="t('chat.versionNext')" :title="t('chat.versionNext')" @click="go(1)">
        <AppIcon name="chevronRight" :size="15" />
      </button>
    </span>`,
}
