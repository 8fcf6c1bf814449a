// The blank chat's presets (ChatView loads the list, and this component once there are any): each starts a new chat with its model, system prompt and temperature; × deletes it.
import '../pageMessages.js'
import { ref } from 'vue'
import { t } from '../i18n.js'
import { toast } from '../store.js'
import { startFromPreset } from '../chatSettings.js'
import { usePresets } from '../useModels.js'
import { errorText, isUnauthorized } from '../errors.js'
import AppIcon from './AppIcon.js'

export default {
  name: 'PresetList',
  components: { AppIcon },
  setup() {
    const { presets, remove } = usePresets()
    const busy = ref(false)
    async function act(fn) {
      if (busy.value) return
      busy.value = true
      try {
        await fn()
      } catch (error) {
        if (!isUnauthorized(error)) toast(errorText(error), 'error')
      } finally {
        busy.value = false
      }
    }
    const start = (preset) => act(() => startFromPreset(preset))
    const drop = (preset) => act(async () => { await remove(preset.id); toast(t('chat.presetDeleted', { name: preset.name })) })
    const describe = (preset) => [preset.model, preset.temperature != null ? `T ${preset.temperature}` : '', preset.system_prompt || '']
      .filter(Boolean).join(' · ')
    return { t, presets, busy, start, drop, describe }
  },
  template: /*html*/ `
    <section v-if="presets.length" class="preset-list" data-testid="presets" :aria-label="t('chat.presets')">
      <h3>{{ t('chat.presets') }}</h3>
      <div class="preset-items">
        <div v-for="preset in presets" :key="preset.id" class="preset-item" data-testid="preset" :data-name="preset.name">
          <button type="button" class="preset-start" data-testid="preset-start" :disabled="busy" :title="describe(preset)" @click="start(preset)">
            <span class="preset-name">{{ preset.name }}</span>
            <span class="preset-detail">{{ describe(preset) }}</span>
          </button>
          <button type="button" class="icon-btn tiny" data-testid="preset-delete" :disabled="busy"
                  :aria-label="t('chat.presetDelete', { name: preset.name })" :title="t('chat.presetDelete', { name: preset.name })" @click="drop(preset)">
            <AppIcon name="close" :size="14" />
          </button>
        </div>
      </div>
    </section>`,
}
