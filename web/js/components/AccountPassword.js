// Account: change the password (the current one, the new one twice). The server signs out the other sessions.
import { ref, computed } from 'vue'
import { t } from '../i18n.js'
import { store, toast } from '../store.js'
import { useFormAction } from '../useFormAction.js'

export default {
  name: 'AccountPassword',
  props: { change: { type: Function, required: true } }, // (current, next) => Promise
  setup(props) {
    const current = ref('')
    const next = ref('')
    const repeat = ref('')
    const done = ref('')
    const { busy, error, run } = useFormAction({ 403: 'account.wrongPassword' })
    const mismatch = computed(() => repeat.value.length > 0 && next.value !== repeat.value)
    const canSubmit = computed(() => !busy.value && current.value && next.value && repeat.value && !mismatch.value)

    async function submit() {
      if (!canSubmit.value) return
      done.value = ''
      await run(async () => {
        await props.change(current.value, next.value)
        current.value = next.value = repeat.value = ''
        done.value = t('account.passwordChanged')
        toast(t('account.passwordChanged'))
      })
    }
    return { t, store, current, next, repeat, error, done, busy, mismatch, canSubmit, submit }
  },
  template: /*html*/ `
    <form class="stack-form" data-testid="change-password" @submit.prevent="submit" novalidate>
      <input type="text" name="username" autocomplete="username" :value="store.user?.username" hidden readonly />
      <label class="field">
        <span>{{ t('account.currentPassword') }}</span>
        <input v-model="current" type="password" name="current-password" autocomplete="current-password" maxlength="256" />
      </label>
      <label class="field">
        <span>{{ t('account.newPassword') }}</span>
        <input v-model="next" type="password" name="new-password" autocomplete="new-password" maxlength="256" />
      </label>
      <label class="field">
        <span>{{ t('account.repeatPassword') }}</span>
        <input v-model="repeat" type="password" name="repeat-password" autocomplete="new-password" maxlength="256"
               :aria-invalid="mismatch ? 'true' : 'false'" />
      </label>
      <p v-if="mismatch" class="form-error" role="alert">{{ t('account.passwordsDiffer') }}</p>
      <p v-else-if="error" class="form-error" role="alert">{{ error }}</p>
      <p v-else-if="done" class="form-ok" role="status">{{ done }}</p>
      <div><button type="submit" class="btn btn-primary" :disabled="!canSubmit">{{ busy ? t('auth.working') : t('account.changePassword') }}</button></div>
    </form>`,
}
