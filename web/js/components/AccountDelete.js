// Account: delete it (the password, then a confirmation). The server clears the cookie; the page goes to login.
import { ref, computed } from 'vue'
import { t } from '../i18n.js'
import { store } from '../store.js'
import { useFormAction } from '../useFormAction.js'
import ConfirmDialog from './ConfirmDialog.js'

export default {
  name: 'AccountDelete',
  components: { ConfirmDialog },
  props: { remove: { type: Function, required: true } }, // (password) => Promise
  setup(props) {
    const password = ref('')
    const asking = ref(false)
    const { busy, error, run } = useFormAction({ 403: 'account.wrongPassword', 409: 'account.lastAdmin' })
    const canSubmit = computed(() => !busy.value && password.value.length > 0)
    function ask() { if (canSubmit.value) { error.value = ''; asking.value = true } }
    async function confirm() {
      asking.value = false
      await run(() => props.remove(password.value))
    }
    return { t, store, password, asking, busy, error, canSubmit, ask, confirm }
  },
  template: /*html*/ `
    <form class="stack-form" data-testid="delete-account" @submit.prevent="ask" novalidate>
      <p class="muted card-note">{{ t('account.deleteNote') }}</p>
      <label class="field">
        <span>{{ t('account.deletePassword') }}</span>
        <input v-model="password" type="password" name="delete-password" autocomplete="current-password" maxlength="256" />
      </label>
      <p v-if="error" class="form-error" role="alert">{{ error }}</p>
      <div><button type="submit" class="btn btn-danger" :disabled="!canSubmit">{{ busy ? t('auth.working') : t('account.deleteButton') }}</button></div>
      <ConfirmDialog v-if="asking" danger :title="t('account.deleteConfirmTitle')"
                     :body="t('account.deleteConfirmBody', { name: store.user?.username })"
                     :confirm-label="t('account.deleteConfirm')" @confirm="confirm" @cancel="asking = false" />
    </form>`,
}
