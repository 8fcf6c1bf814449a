// Add or edit a connection: name, kind (OpenAI-compatible, command, demo), base URL, API key (write-only: never
// prefilled; "set" when one is stored, empty keeps it, "Remove the key" clears it), extra headers ("Name: value"
// lines), command, and model ids added by hand.
import { ref, computed } from 'vue'
import { t } from '../i18n.js'
import { useFormAction } from '../useFormAction.js'
import { parseHeaders, formatHeaders, parseModelIds } from '../useConnections.js'
import ModalDialog from './ModalDialog.js'

export default {
  name: 'AdminConnectionForm',
  components: { ModalDialog },
  props: {
    connection: { type: Object, default: null }, // null: a new one
    save: { type: Function, required: true }, //   (fields) => Promise<connection>
  },
  emits: ['done', 'cancel'],
  setup(props, { emit }) {
    const editing = !!props.connection
    const source = props.connection ?? {}
    const name = ref(source.name ?? '')
    const kind = ref(source.kind === 'openai' ? 'openai_compatible' : source.kind ?? 'openai_compatible')
    const baseURL = ref(source.base_url ?? '')
    const apiKey = ref('')
    const clearKey = ref(false)
    const headers = ref(formatHeaders(source.headers))
    const command = ref(source.command ?? '')
    const manual = ref((source.manual_models ?? []).join('\n'))
    const localError = ref('')
    const { busy, error, run } = useFormAction({ 409: 'admin.connNameTaken' })
    const keySet = !!source.api_key_set
    const canSubmit = computed(() => !busy.value && name.value.trim()
      && (kind.value !== 'openai_compatible' || baseURL.value.trim()) && (kind.value !== 'command' || command.value.trim()))

    async function submit() {
      if (!canSubmit.value) return
      localError.value = ''
      let parsedHeaders
      try {
        parsedHeaders = parseHeaders(headers.value)
      } catch (bad) {
        localError.value = t('admin.connBadHeader', { line: bad.message })
        return
      }
      const fields = { name: name.value.trim(), kind: kind.value, headers: parsedHeaders, models: parseModelIds(manual.value) }
      if (kind.value === 'openai_compatible') fields.base_url = baseURL.value.trim()
      if (kind.value === 'command') fields.command = command.value.trim()
      if (apiKey.value) fields.api_key = apiKey.value
      else if (editing && clearKey.value) fields.api_key = ''
      const ok = await run(async () => emit('done', await props.save(fields)))
      if (ok) apiKey.value = ''
    }
    return {
      t, editing, name, kind, baseURL, apiKey, clearKey, headers, command, manual, keySet, busy, error, localError,
      canSubmit, submit,
    }
  },
  template: /*html*/ `
    <ModalDialog :title="editing ? t('admin.connEditTitle', { name: connection.name }) : t('admin.connAddTitle')" :busy="busy"
                 @submit="submit" @cancel="$emit('cancel')">
      <div class="connection-form" data-testid="connection-form">
        <label class="field">
          <span>{{ t('admin.connName') }}</span>
          <input v-model="name" name="connection-name" maxlength="64" autocomplete="off" data-testid="conn-name" />
        </label>
        <label class="field">
          <span>{{ t('admin.connKind') }}</span>
          <select v-model="kind" name="connection-kind" data-testid="conn-kind">
            <option value="openai_compatible">{{ t('admin.kindOpenAI') }}</option>
            <option value="command">{{ t('admin.kindCommand') }}</option>
            <option value="demo">{{ t('admin.kindDemo') }}</option>
          </select>
        </label>
        <label v-if="kind === 'openai_compatible'" class="field">
          <span>{{ t('admin.connBaseURL') }}</span>
          <input v-model="baseURL" name="connection-base-url" type="url" placeholder="https://api.deepseek.com/v1" autocomplete="off"
                 spellcheck="false" data-testid="conn-base-url" />
        </label>
        <label v-if="kind === 'openai_compatible'" class="field">
          <span>{{ t('admin.connApiKey') }} <em v-if="keySet" class="key-set" data-testid="conn-key-set">{{ t('admin.connKeySet') }}</em></span>
          <input v-model="apiKey" name="connection-api-key" type="password" autocomplete="new-password" spellcheck="false"
                 :placeholder="keySet ? t('admin.connKeyKeep') : ''" data-testid="conn-api-key" />
        </label>
        <label v-if="kind === 'openai_compatible' && editing && keySet" class="check">
          <input v-model="clearKey" type="checkbox" :disabled="!!apiKey" data-testid="conn-clear-key" />
          <span>{{ t('admin.connClearKey') }}</span>
        </label>
        <label v-if="kind === 'command'" class="field">
          <span>{{ t('admin.connCommand') }}</span>
          <input v-model="command" name="connection-command" autocomplete="off" spellcheck="false" data-testid="conn-command" />
        </label>
        <label v-if="kind !== 'demo'" class="field">
          <span>{{ t('admin.connHeaders') }}</span>
          <textarea v-model="headers" rows="2" spellcheck="false" placeholder="X-Title: Chatbox" data-testid="conn-headers"></textarea>
        </label>
        <label class="field">
          <span>{{ t('admin.connManualModels') }}</span>
          <textarea v-model="manual" rows="2" spellcheck="false" placeholder="deepseek-reasoner" data-testid="conn-models"></textarea>
        </label>
        <p v-if="localError || error" class="form-error" role="alert">{{ localError || error }}</p>
      </div>
      <template #actions>
        <button type="button" class="btn" :disabled="busy" @click="$emit('cancel')">{{ t('common.cancel') }}</button>
        <button type="submit" class="btn btn-primary" data-testid="conn-save" :disabled="!canSubmit">
          {{ busy ? t('auth.working') : t('admin.connSave') }}
        </button>
      </template>
    </ModalDialog>`,
}
