// Admin: the connections (the start-up one, from CHATBOX_LLM_*, read-only) with their models and last refresh
// error; add, edit, delete, refresh. Then the model settings: default model, title model, hide / show each model.
import { ref, computed, onMounted } from 'vue'
import { t, formatDateTime } from '../i18n.js'
import { toast } from '../store.js'
import { useConnections } from '../useConnections.js'
import { errorText, isUnauthorized } from '../errors.js'
import AppIcon from './AppIcon.js'
import AdminConnectionForm from './AdminConnectionForm.js'
import ConfirmDialog from './ConfirmDialog.js'

export default {
  name: 'AdminConnections',
  components: { AppIcon, AdminConnectionForm, ConfirmDialog },
  setup() {
    const admin = useConnections()
    const { connections, models, defaultModel, titleModel } = admin
    const editing = ref(null) //   a connection, or 'new'
    const deleting = ref(null)
    const busyId = ref(null)
    const error = ref('')
    const kindLabel = (kind) => t({ command: 'admin.kindCommand', demo: 'admin.kindDemo' }[kind] ?? 'admin.kindOpenAI')
    const hiddenIds = computed(() => models.value.filter((model) => model.hidden).map((model) => model.id))

    async function act(id, fn) {
      error.value = ''
      busyId.value = id
      try {
        await fn()
      } catch (failure) {
        if (!isUnauthorized(failure)) error.value = errorText(failure)
      } finally {
        busyId.value = null
      }
    }
    const save = (fields) => (editing.value === 'new' ? admin.create(fields) : admin.update(editing.value.id, fields))
    function saved(connection) {
      toast(t('admin.connSaved', { name: connection?.name ?? '' }))
      editing.value = null
    }
    const refresh = (connection) => act(connection.id, async () => {
      const result = await admin.refresh(connection.id)
      if (!result?.error) toast(t('admin.connRefreshed', { name: connection.name, count: result?.models?.length ?? 0 }))
    })
    function confirmDelete() {
      const connection = deleting.value
      deleting.value = null
      act(connection.id, async () => { await admin.remove(connection.id); toast(t('admin.connDeleted', { name: connection.name })) })
    }
    const setDefault = (event) => act('models', () => admin.updateModels({ default_model: event.target.value || null }))
    const setTitle = (event) => act('models', () => admin.updateModels({ title_model: event.target.value || null }))
    function toggleHidden(model) {
      const hidden = model.hidden ? hiddenIds.value.filter((id) => id !== model.id) : [...hiddenIds.value, model.id]
      act('models', () => admin.updateModels({ hidden }))
    }
    onMounted(() => admin.load().catch((failure) => { if (!isUnauthorized(failure)) error.value = errorText(failure) }))
    return {
      t, formatDateTime, connections, models, defaultModel, titleModel, editing, deleting, busyId, error, kindLabel,
      save, saved, refresh, confirmDelete, setDefault, setTitle, toggleHidden,
    }
  },
  template: /*html*/ `
    <section class="card" aria-labelledby="connections-title" data-testid="connections">
      <div class="card-row">
        <div>
          <h2 id="connections-title">{{ t('admin.connections') }}</h2>
          <p class="muted card-note">{{ t('admin.connectionsNote') }}</p>
        </div>
        <button type="button" class="btn btn-small" data-testid="add-connection" @click="editing = 'new'">
          <AppIcon name="plus" :size="14" />{{ t('admin.connAdd') }}
        </button>
      </div>
      <p v-if="error" class="form-error" role="alert" data-testid="connections-error">{{ error }}</p>
      <ul class="connection-list">
        <li v-for="connection in connections" :key="connection.id" class="connection" data-testid="connection"
            :data-name="connection.name" :data-read-only="connection.read_only ? 'true' : 'false'">
          <div class="connection-head">
            <div class="connection-title">
              <strong>{{ connection.name }}</strong>
              <span class="badge">{{ kindLabel(connection.kind) }}</span>
              <span v-if="connection.read_only" class="badge" data-testid="connection-read-only">{{ t('admin.connReadOnly') }}</span>
            </div>
            <div class="connection-actions">
              <button type="button" class="btn btn-small" data-testid="connection-refresh" :disabled="busyId === connection.id" @click="refresh(connection)">
                <AppIcon name="refresh" :size="14" />{{ t('admin.connRefresh') }}
              </button>
              <template v-if="!connection.read_only">
                <button type="button" class="btn btn-small" data-testid="connection-edit" :disabled="busyId === connection.id" @click="editing = connection">
                  <AppIcon name="pencil" :size="14" />{{ t('admin.connEdit') }}
                </button>
                <button type="button" class="btn btn-small btn-danger-outline" data-testid="connection-delete" :disabled="busyId === connection.id" @click="deleting = connection">
                  <AppIcon name="trash" :size="14" />{{ t('common.delete') }}
                </button>
              </template>
            </div>
          </div>
          <dl class="connection-facts">
            <template v-if="connection.base_url"><dt>{{ t('admin.connBaseURL') }}</dt><dd class="mono" data-testid="connection-base-url">{{ connection.base_url }}</dd></template>
            <template v-if="connection.command"><dt>{{ t('admin.connCommand') }}</dt><dd class="mono">{{ connection.command }}</dd></template>
            <template v-if="connection.kind !== 'demo' && connection.kind !== 'command'">
              <dt>{{ t('admin.connApiKey') }}</dt>
              <dd data-testid="connection-key">{{ connection.api_key_set ? t('admin.connKeySet') : t('admin.connKeyNone') }}</dd>
            </template>
            <template v-if="Object.keys(connection.headers || {}).length">
              <dt>{{ t('admin.connHeadersShort') }}</dt><dd class="mono">{{ Object.keys(connection.headers).join(', ') }}</dd>
            </template>
            <dt>{{ t('admin.connModels') }}</dt>
            <dd data-testid="connection-models">{{ (connection.models || []).join(', ') || '—' }}</dd>
            <template v-if="connection.refreshed_at"><dt>{{ t('admin.connRefreshedAt') }}</dt><dd>{{ formatDateTime(connection.refreshed_at) }}</dd></template>
          </dl>
          <p v-if="connection.error" class="form-error" role="alert" data-testid="connection-error">{{ connection.error }}</p>
        </li>
      </ul>
    </section>

    <section class="card" aria-labelledby="models-title" data-testid="model-settings">
      <h2 id="models-title">{{ t('admin.models') }}</h2>
      <p class="muted card-note">{{ t('admin.modelsNote') }}</p>
      <div class="model-defaults">
        <label class="field">
          <span>{{ t('admin.defaultModel') }}</span>
          <select name="default-model" data-testid="default-model" :value="defaultModel || ''" :disabled="busyId === 'models'" @change="setDefault">
            <option value="">{{ t('admin.firstModel') }}</option>
            <option v-for="model in models" :key="model.id" :value="model.id">{{ model.name }} · {{ model.connection }}</option>
          </select>
        </label>
        <label class="field">
          <span>{{ t('admin.titleModel') }}</span>
          <select name="title-model" data-testid="title-model" :value="titleModel || ''" :disabled="busyId === 'models'" @change="setTitle">
            <option value="">{{ t('admin.titleModelDefault') }}</option>
            <option v-for="model in models" :key="model.id" :value="model.id">{{ model.name }} · {{ model.connection }}</option>
          </select>
        </label>
      </div>
      <div class="table-wrap">
        <table class="users-table" data-testid="models-table">
          <thead><tr><th scope="col">{{ t('admin.model') }}</th><th scope="col">{{ t('admin.connection') }}</th><th scope="col">{{ t('admin.shown') }}</th></tr></thead>
          <tbody>
            <tr v-for="model in models" :key="model.id" data-testid="model-row" :data-model="model.id">
              <td class="mono">{{ model.id }}</td>
              <td>{{ model.connection }}</td>
              <td>
                <label class="switch">
                  <input type="checkbox" role="switch" :checked="!model.hidden" :disabled="busyId === 'models'"
                         data-testid="model-visible" :aria-label="t('admin.showModel', { model: model.id })" @change="toggleHidden(model)" />
                  <span class="switch-track" aria-hidden="true"></span>
                </label>
              </td>
            </tr>
          </tbody>
        </table>
      </div>
      <p v-if="!models.length" class="conv-empty">{{ t('admin.noModels') }}</p>
    </section>
    <AdminConnectionForm v-if="editing" :connection="editing === 'new' ? null : editing" :save="save" @done="saved" @cancel="editing = null" />
    <ConfirmDialog v-if="deleting" danger :title="t('admin.connDeleteTitle', { name: deleting.name })" :body="t('admin.connDeleteBody')"
                   :confirm-label="t('common.delete')" @confirm="confirmDelete" @cancel="deleting = null" />`,
}
