// Admin: create an account with a name, a password and a role. The server's refusal (name taken, a rule) is shown.
import { ref, computed } from 'vue'
import { t } from '../i18n.js'
import { useFormAction } from '../useFormAction.js'

export default {
  name: 'AdminCreateUser',
  props: { create: { type: Function, required: true } }, // (username, password, role) => Promise<user>
  emits: ['created'],
  setup(props, { emit }) {
    const username = ref('')
    const password = ref('')
    const role = ref('user')
    const done = ref('')
    const { busy, error, run } = useFormAction({ 409: 'auth.nameTaken' })
    const canSubmit = computed(() => !busy.value && username.value.trim() && password.value)

    async function submit() {
      if (!canSubmit.value) return
      done.value = ''
      await run(async () => {
        const user = await props.create(username.value.trim(), password.value, role.value)
        done.value = t('admin.createdDone', { name: user.username })
        username.value = ''
        password.value = ''
        role.value = 'user'
        emit('created', user)
      })
    }
    return { t, username, password, role, error, done, busy, canSubmit, submit }
  },
  template: /*html*/ `
    <form class="inline-form" data-testid="create-user" @submit.prevent="submit" novalidate>
      <label class="field">
        <span>{{ t('auth.username') }}</span>
        <input v-model="username" name="new-username" autocomplete="off" autocapitalize="off" spellcheck="false" maxlength="64" />
      </label>
      <label class="field">
        <span>{{ t('auth.password') }}</span>
        <input v-model="password" name="new-password" type="password" autocomplete="new-password" maxlength="256" />
      </label>
      <label class="field field-narrow">
        <span>{{ t('admin.role') }}</span>
        <select v-model="role" name="new-role">
          <option value="user">{{ t('admin.roleUser') }}</option>
          <option value="admin">{{ t('admin.roleAdmin') }}</option>
        </select>
      </label>
      <button type="submit" class="btn btn-primary" :disabled="!canSubmit">{{ busy ? t('auth.working') : t('admin.createSubmit') }}</button>
      <p v-if="error" class="form-error" role="alert">{{ error }}</p>
      <p v-else-if="done" class="form-ok" role="status">{{ done }}</p>
    </form>`,
}
