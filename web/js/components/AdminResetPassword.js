// Admin: set a new password for a user (the server signs them out everywhere).
import { ref, computed } from 'vue'
import { t } from '../i18n.js'
import { useFormAction } from '../useFormAction.js'
import ModalDialog from './ModalDialog.js'

export default {
  name: 'AdminResetPassword',
  components: { ModalDialog },
  props: {
    user: { type: Object, required: true },
    reset: { type: Function, required: true }, // (user, password) => Promise
  },
  emits: ['done', 'cancel'],
  setup(props, { emit }) {
    const password = ref('')
    const show = ref(false)
    const { busy, error, run } = useFormAction()
    const canSubmit = computed(() => !busy.value && password.value.length > 0)
    async function submit() {
      if (!canSubmit.value) return
      if (await run(() => props.reset(props.user, password.value))) emit('done')
    }
    return { t, password, show, error, busy, canSubmit, submit }
  },
  template: /*html*/ `
    <ModalDialog :title="t('admin.resetTitle', { name: user.username })" :busy="busy" @submit="submit" @cancel="$emit('cancel')">
      <p>{{ t('admin.resetBody') }}</p>
      <label class="field">
        <span>{{ t('admin.newPassword') }}</span>
        <input v-model="password" :type="show ? 'text' : 'password'" name="reset-password" autocomplete="new-password" maxlength="256" />
      </label>
      <label class="check">
        <input v-model="show" type="checkbox" /> <span>{{ t('admin.showPassword') }}</span>
      </label>
      <p v-if="error" class="form-error" role="alert">{{ error }}</p>
      <template #actions>
        <button type="button" class="btn" :disabled="busy" @click="$emit('cancel')">{{ t('common.cancel') }}</button>
        <button type="submit" class="btn btn-primary" :disabled="!canSubmit">{{ busy ? t('auth.working') : t('admin.resetSubmit') }}</button>
      </template>
    </ModalDialog>`,
}
