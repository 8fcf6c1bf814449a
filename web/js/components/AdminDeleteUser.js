// Admin: delete a user after a confirmation that names them — their name must be typed, and is sent as `confirm`.
import { ref, computed } from 'vue'
import { t } from '../i18n.js'
import { useFormAction } from '../useFormAction.js'
import ModalDialog from './ModalDialog.js'

export default {
  name: 'AdminDeleteUser',
  components: { ModalDialog },
  props: {
    user: { type: Object, required: true },
    remove: { type: Function, required: true }, // (user, confirm) => Promise
  },
  emits: ['done', 'cancel'],
  setup(props, { emit }) {
    const typed = ref('')
    const { busy, error, run } = useFormAction({ 409: 'admin.lastAdmin', 422: 'admin.confirmMismatch' })
    const matches = computed(() => typed.value.trim() === props.user.username)
    const body = computed(() => {
      const count = props.user.conversation_count ?? 0
      const key = count === 0 ? 'admin.deleteBodyNone' : count === 1 ? 'admin.deleteBodyOne' : 'admin.deleteBody'
      return t(key, { name: props.user.username, count })
    })
    async function submit() {
      if (!matches.value || busy.value) return
      if (await run(() => props.remove(props.user, typed.value.trim()))) emit('done')
    }
    return { t, typed, error, busy, matches, body, submit }
  },
  template: /*html*/ `
    <ModalDialog role="alertdialog" :title="t('admin.deleteTitle', { name: user.username })" :busy="busy" @submit="submit" @cancel="$emit('cancel')">
      <p>{{ body }}</p>
      <label class="field">
        <span>{{ t('admin.deleteTypeName', { name: user.username }) }}</span>
        <input v-model="typed" name="confirm-username" autocomplete="off" autocapitalize="off" spellcheck="false" maxlength="64" />
      </label>
      <p v-if="error" class="form-error" role="alert">{{ error }}</p>
      <template #actions>
        <button type="button" class="btn" :disabled="busy" @click="$emit('cancel')">{{ t('common.cancel') }}</button>
        <button type="submit" class="btn btn-danger" :disabled="!matches || busy">{{ busy ? t('auth.working') : t('admin.deleteSubmit') }}</button>
      </template>
    </ModalDialog>`,
}
