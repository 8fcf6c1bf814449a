// Account: the signed-in sessions (this device first and marked), each but this one with a Revoke button.
import { ref, computed } from 'vue'
import { t, formatDateTime, formatRelative } from '../i18n.js'
import { toast } from '../store.js'
import { errorText, isUnauthorized } from '../errors.js'

export default {
  name: 'AccountSessions',
  props: {
    sessions: { type: Array, required: true },
    loading: { type: Boolean, default: false },
    loaded: { type: Boolean, default: false },
    loadError: { default: null }, // what loading the list threw (an ApiError), or null
    revoke: { type: Function, required: true },
    reload: { type: Function, required: true },
  },
  setup(props) {
    const busyId = ref(null)
    // this device first, then the others as the server lists them (most recently used first)
    const ordered = computed(() => [...props.sessions].sort((first, second) => (second.current ? 1 : 0) - (first.current ? 1 : 0)))
    const error = ref('')
    async function revokeOne(session) {
      busyId.value = session.id
      error.value = ''
      try {
        await props.revoke(session.id)
        toast(t('account.sessionRevoked'))
      } catch (failure) {
        if (!isUnauthorized(failure)) error.value = errorText(failure)
      } finally {
        busyId.value = null
      }
    }
    return { t, formatDateTime, formatRelative, ordered, busyId, error, revokeOne, errorText, isUnauthorized }
  },
  template: /*html*/ `
    <div>
      <ul class="session-list" data-testid="sessions">
        <li v-for="session in ordered" :key="session.id" class="session" :class="{ current: session.current }" :data-session-id="session.id">
          <div class="session-main">
            <div class="session-title">
              <span>{{ t('account.signedIn', { date: formatDateTime(session.created_at) }) }}</span>
              <span v-if="session.current" class="badge badge-accent" data-testid="this-device">{{ t('account.thisDevice') }}</span>
            </div>
            <div class="session-meta muted">
              <span>{{ t('account.lastUsed') }} <time :datetime="session.last_used_at" :title="formatDateTime(session.last_used_at)">{{ formatRelative(session.last_used_at) }}</time></span>
              <span>{{ t('account.expires') }} <time :datetime="session.expires_at">{{ formatDateTime(session.expires_at, { time: false }) }}</time></span>
            </div>
          </div>
          <button v-if="!session.current" type="button" class="btn btn-small" :disabled="busyId === session.id"
                  :aria-label="t('account.revokeSession', { date: formatDateTime(session.created_at) })" @click="revokeOne(session)">{{ t('account.revoke') }}</button>
        </li>
      </ul>
      <p v-if="loading && !loaded" class="conv-loading"><span class="spinner small"></span></p>
      <p v-if="loadError && !isUnauthorized(loadError)" class="form-error" role="alert">
        {{ errorText(loadError) }} <button type="button" class="link-btn" @click="reload">{{ t('common.retry') }}</button>
      </p>
      <p v-if="error" class="form-error" role="alert">{{ error }}</p>
    </div>`,
}
