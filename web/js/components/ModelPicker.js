// The chat header's model picker (like ChatGPT's): the current model's name; its menu lists GET /api/models by
// connection. Picking switches the open conversation from its next turn (PATCH), or sets the blank page's model.
// It opens by itself when a turn was refused because its model is gone (chat.pickerRequest).
import { ref, computed, watch, onMounted } from 'vue'
import { t } from '../i18n.js'
import { toast } from '../store.js'
import { chat, currentModel, setModel } from '../chat.js'
import { useModels } from '../useModels.js'
import { usePopover } from '../usePopover.js'
import { errorText, isUnauthorized } from '../errors.js'
import AppIcon from './AppIcon.js'

export default {
  name: 'ModelPicker',
  components: { AppIcon },
  setup() {
    const { groups, loaded, error, load, reload, isAvailable, modelName } = useModels()
    const button = ref(null)
    const menu = ref(null)
    const popover = usePopover(button, menu)
    const saving = ref(false)
    const current = computed(() => currentModel())
    const gone = computed(() => !!current.value && loaded.value && !isAvailable(current.value))
    const label = computed(() => {
      if (current.value) return modelName(current.value)
      return loaded.value && (chat.id == null || chat.conversation) ? t('chat.noModel') : '…'
    })

    function toggle() {
      if (!popover.open.value) reload() // an admin may have changed the list meanwhile
      popover.toggle()
    }
    async function pick(id) {
      popover.close()
      if (id === current.value && !gone.value) return
      saving.value = true
      try {
        await setModel(id)
      } catch (failure) {
        if (!isUnauthorized(failure)) toast(errorText(failure), 'error')
      } finally {
        saving.value = false
      }
    }
    watch(() => chat.pickerRequest, () => { load().then(() => popover.show()) })
    onMounted(() => load())
    return { t, groups, error, button, menu, popover, saving, current, gone, label, toggle, pick, reload }
  },
  template: /*html*/ `
    <div class="model-picker popover-anchor">
      <button ref="button" type="button" class="model-picker-btn" data-testid="model-picker" :data-model="current || ''"
              :class="{ gone }" :disabled="saving" aria-haspopup="menu" :aria-expanded="popover.open.value ? 'true' : 'false'"
              :title="gone ? t('chat.modelUnavailable') : t('chat.pickModel')" @click="toggle">
        <span class="model-picker-name">{{ label }}</span>
        <AppIcon name="chevronDown" :size="16" />
      </button>
      <div v-if="popover.open.value" ref="menu" class="popover-menu" :style="popover.place.value" role="menu" data-testid="model-menu"
           :aria-label="t('chat.pickModel')" @keydown="popover.onKeydown">
        <template v-for="group in groups" :key="group.connection">
          <p class="popover-group">{{ group.connection }}</p>
          <button v-for="model in group.models" :key="model.id" type="button" role="menuitemradio" class="menu-item"
                  :aria-checked="model.id === current ? 'true' : 'false'" data-testid="model-option" :data-model="model.id"
                  @click="pick(model.id)">
            <span class="menu-item-text">{{ model.name }}</span>
            <AppIcon v-if="model.id === current" name="check" :size="14" />
          </button>
        </template>
        <p v-if="!groups.length" class="popover-empty">
          {{ error ? t('chat.modelsFailed') : t('chat.noModels') }}
          <button v-if="error" type="button" class="link-btn" @click="reload">{{ t('common.retry') }}</button>
        </p>
      </div>
    </div>`,
}
