// The conversation's settings panel (from the header): system prompt and temperature (0–2, or the server's
// default), saved with PATCH (on the blank page: kept for its first message). "Save as preset" stores them with
// the model under a name, to start new chats from.
import '../pageMessages.js'
import { ref, computed, onMounted } from 'vue'
import { t } from '../i18n.js'
import { toast } from '../store.js'
import { chat, currentModel } from '../chat.js'
import { saveSettings } from '../chatSettings.js'
import { usePresets } from '../useModels.js'
import { useFormAction } from '../useFormAction.js'
import ModalDialog from './ModalDialog.js'

export default {
  name: 'ChatSettings',
  components: { ModalDialog },
  emits: ['close'],
  setup(_, { emit }) {
    const source = chat.id != null ? chat.conversation ?? {} : chat.pending
    const systemPrompt = ref(source.system_prompt ?? '')
    const useDefault = ref(source.temperature == null)
    const temperature = ref(source.temperature ?? 1)
    const presetName = ref('')
    const presetDone = ref('')
    const save = useFormAction({ 422: 'chat.settingsInvalid' })
    const preset = useFormAction({ 409: 'chat.presetTaken', 422: 'chat.settingsInvalid' })
    const presets = usePresets()

    const value = () => ({
      system_prompt: systemPrompt.value.trim() ? systemPrompt.value : null,
      temperature: useDefault.value ? null : Math.min(2, Math.max(0, Number(temperature.value) || 0)),
    })
    const shownTemperature = computed(() => (useDefault.value ? t('chat.temperatureDefault') : Number(temperature.value).toFixed(1)))

    async function submit() {
      const ok = await save.run(() => saveSettings(value()))
      if (ok) { toast(t('chat.settingsSaved')); emit('close') }
    }
    async function savePreset() {
      const name = presetName.value.trim()
      if (!name) return
      presetDone.value = ''
      const ok = await preset.run(() => presets.create({ name, model: currentModel(), ...value() }))
      if (ok) { presetDone.value = t('chat.presetSaved', { name }); presetName.value = '' }
    }
    const promptBox = ref(null)
    onMounted(() => promptBox.value?.focus()) // after the dialog's own focus on its first input (the slider)
    function onTemperatureInput(event) {
      useDefault.value = false
      temperature.value = event.target.value
    }
    return {
      t, promptBox, systemPrompt, useDefault, temperature, shownTemperature, presetName, presetDone, save, preset,
      busy: computed(() => save.busy.value || preset.busy.value), submit, savePreset, onTemperatureInput,
    }
  },
  template: /*html*/ `
    <ModalDialog :title="t('chat.settingsTitle')" :busy="busy" @submit="submit" @cancel="$emit('close')">
      <div class="chat-settings" data-testid="chat-settings">
        <label class="field">
          <span>{{ t('chat.systemPrompt') }}</span>
          <textarea ref="promptBox" v-model="systemPrompt" rows="6" maxlength="20000" data-testid="system-prompt"
                    :placeholder="t('chat.systemPromptPlaceholder')"></textarea>
        </label>
        <div class="field">
          <span id="temperature-label">{{ t('chat.temperature') }}: <output data-testid="temperature-value">{{ shownTemperature }}</output></span>
          <div class="temperature-row">
            <input type="range" min="0" max="2" step="0.1" :value="temperature" aria-labelledby="temperature-label"
                   data-testid="temperature-slider" :class="{ dim: useDefault }" @input="onTemperatureInput" />
            <input type="number" min="0" max="2" step="0.1" :value="temperature" class="temperature-number"
                   :aria-label="t('chat.temperature')" data-testid="temperature" @input="onTemperatureInput" />
            <label class="check">
              <input v-model="useDefault" type="checkbox" data-testid="temperature-default" />
              <span>{{ t('chat.temperatureDefault') }}</span>
            </label>
          </div>
          <small class="muted">{{ t('chat.temperatureNote') }}</small>
        </div>
        <p v-if="save.error.value" class="form-error" role="alert">{{ save.error.value }}</p>
        <div class="preset-save">
          <label class="field">
            <span>{{ t('chat.presetName') }}</span>
            <input v-model="presetName" maxlength="64" data-testid="preset-name" @keydown.enter.prevent="savePreset" />
          </label>
          <button type="button" class="btn" data-testid="save-preset" :disabled="!presetName.trim() || busy" @click="savePreset">
            {{ t('chat.savePreset') }}
          </button>
        </div>
        <p v-if="preset.error.value" class="form-error" role="alert">{{ preset.error.value }}</p>
        <p v-else-if="presetDone" class="form-ok" role="status" data-testid="preset-saved">{{ presetDone }}</p>
      </div>
      <template #actions>
        <button type="button" class="btn" :disabled="busy" @click="$emit('close')">{{ t('common.cancel') }}</button>
        <button type="submit" class="btn btn-primary" data-testid="save-settings" :disabled="busy">{{ t('chat.saveSettings') }}</button>
      </template>
    </ModalDialog>`,
}
