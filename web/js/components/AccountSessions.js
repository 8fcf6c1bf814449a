// Account: the signed-in sessions (this device first and marked), each but this one with a Revoke button.
import { ref, computed } from 'vue'
import { t, formatDateTime, formatRelative } from '../i18n.js'
import { toast } from '../store.js'
import { errorText, isUnauthorized } from '../errors.js'

export default {
  name: 'AccountSessions',
  props: {
    sessions: { type: Object, required: true }, // {list, loading, loaded, error}
    revoke: { type: Function, required: true },
    reload: { type: Function, required: true },
  },
  setup(props) {
    const busyId = ref(null)
    // this device first, then the others as the server lists them (most recently used first)
    const ordered = computed(() => [...props.sessions.list].sort((a, b) => (b.current ? 1 : 0) - (a.current ? 1 : 0)))
    const error = ref('')
    async function revokeOne(s) {
      busyId.value = s.id
      error.value = ''
      try {
        await props.revoke(s.id)
        toast(t('account.sessionRevoked'))
      } catch (e) {
        if (!isUnauthorized(e)) error.value = errorText(e)
      } finally {
        busyId.value = null
      }
    }
    return { t, formatDateTime, formatRelative, ordered, busyId, error, revokeOne, errorText, isUnauthorized }
  },
  template: /*html*/ `
    <div>
      <ul class="session-list" data-testid="sessions">
        <li v-for="s in ordered" :key="s.id" class="session" :class="{ current: s.current }" :data-session-id="s.id">
          <div class="session-main">
            <div class="session-title">
              <span>{{ t('account.signedIn', { date: formatDateTime(s.created_at) }) }}</span>
              <span v-if="s.current" class="badge badge-accent" data-testid="this-device">{{ t('account.thisDevice') }}</span>
            </div>
            <div class="session-meta muted">
              <span>{{ t('account.lastUsed') }} <time :datetime="s.last_used_at" :title="formatDateTime(s.last_used_at)">{{ formatRelative(s.last_used_at) }}</time></span>
              <span>{{ t('account.expires') }} <time :datetime="s.expires_at">{{ formatDateTime(s.expires_at, { time: false }) }}</time></span>
            </div>
          </div>
          <button v-if="!s.current" type="button" class="btn btn-small" :disabled="busyId === s.id"
                  :aria-label="t('account.revokeSession', { date: formatDateTime(s.created_at) })" @click="revokeOne(s)">{{ t('account.revoke') }}</button>
        </li>
      </ul>
      <p v-if="sessions.loading && !sessions.loaded" class="conv-loading"><span class="spinner small"></span></p>
      <p v-if="sessions.error && !isUnauthorized(sessions.error)" class="form-error" role="alert">
        {{ errorText(sessions.error) }} <button type="button" class="link-btn" @click="reload">{{ t('common.retry') }}</button>
      </p>
      <p v-if="error" class="form-error" role="alert">{{ error }}</p>
    </div>`,
}
