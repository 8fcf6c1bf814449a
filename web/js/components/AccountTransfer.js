// Account: take the history out (all conversations as JSON) and bring it in (a Chatbox export or ChatGPT's
// conversations.json), with the server's report: how many came in, and which were skipped and why.
import { ref, computed } from 'vue'
import { t } from '../i18n.js'
import { errorText, isUnauthorized } from '../errors.js'
import { ImportTooLarge } from '../useAccount.js'
import AppIcon from './AppIcon.js'

export default {
  name: 'AccountTransfer',
  components: { AppIcon },
  props: {
    exportAll: { type: Function, required: true },
    importFile: { type: Function, required: true },
  },
  setup(props) {
    const exporting = ref(false)
    const exportError = ref('')
    const importing = ref(false)
    const importError = ref('')
    const report = ref(null)
    const fileName = ref('')
    const input = ref(null)
    // the server's reasons are English sentences; the known ones are shown in the UI language
    const reason = (text) => { const key = `skip.${text}`; const translated = t(key); return translated === key ? text : translated }
    const count = (key, n) => t(n === 1 ? `${key}One` : key, { n })
    const summary = computed(() => report.value && t(report.value.source === 'chatgpt' ? 'account.importedChatGPT' : 'account.importedChatbox', {
      chats: count('account.chats', report.value.imported), messages: count('account.messages', report.value.imported_messages),
    }))

    async function doExport() {
      exporting.value = true
      exportError.value = ''
      try {
        await props.exportAll()
      } catch (error) {
        if (!isUnauthorized(error)) exportError.value = errorText(error)
      } finally {
        exporting.value = false
      }
    }

    async function onFile(event) {
      const file = event.target.files?.[0]
      event.target.value = '' // the same file can be chosen again
      if (!file) return
      fileName.value = file.name
      importing.value = true
      importError.value = ''
      report.value = null
      try {
        report.value = await props.importFile(file)
      } catch (err) {
        if (err instanceof ImportTooLarge) importError.value = t('account.importTooLargeClient')
        else if (!isUnauthorized(err)) importError.value = errorText(err, { 413: 'account.importTooLarge', 400: 'account.importMalformed', 422: 'account.importMalformed' })
      } finally {
        importing.value = false
      }
    }
    return { t, exporting, exportError, importing, importError, report, summary, reason, fileName, input, doExport, onFile }
  },
  template: /*html*/ `
    <div class="transfer">
      <div class="transfer-block">
        <h3>{{ t('account.exportTitle') }}</h3>
        <p class="muted card-note">{{ t('account.exportNote') }}</p>
        <button type="button" class="btn" data-testid="export-all" :disabled="exporting" @click="doExport">
          <AppIcon name="download" :size="16" />{{ exporting ? t('auth.working') : t('account.exportButton') }}
        </button>
        <p v-if="exportError" class="form-error" role="alert">{{ exportError }}</p>
      </div>
      <div class="transfer-block">
        <h3>{{ t('account.importTitle') }}</h3>
        <p class="muted card-note">{{ t('account.importNote') }}</p>
        <label class="btn file-btn" :class="{ disabled: importing }">
          <AppIcon name="upload" :size="16" />{{ importing ? t('account.importing') : t('account.importButton') }}
          <input ref="input" type="file" accept=".json,application/json" class="sr-only" data-testid="import-file"
                 :disabled="importing" @change="onFile" />
        </label>
        <p v-if="importError" class="form-error" role="alert" data-testid="import-error">
          {{ t('account.importFailed', { file: fileName }) }} {{ importError }}
        </p>
        <div v-if="report" class="import-report" role="status" data-testid="import-report">
          <p class="form-ok">
            {{ summary }}
          </p>
          <p v-if="report.cut_messages > 0" class="muted" data-testid="import-cut">
            {{ t(report.cut_messages === 1 ? 'account.cutMessagesOne' : 'account.cutMessages', { n: report.cut_messages }) }}
          </p>
          <template v-if="report.skipped && report.skipped.length">
            <p class="muted">{{ t('account.skippedCount', { n: report.skipped.length }) }}</p>
            <ul class="skipped-list">
              <li v-for="(skipped, index) in report.skipped" :key="index"><strong>{{ skipped.title || t('conv.untitled') }}</strong> — {{ reason(skipped.reason) }}</li>
            </ul>
          </template>
        </div>
      </div>
    </div>`,
}
