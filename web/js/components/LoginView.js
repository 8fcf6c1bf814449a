// Log in / sign up. Clear messages for a wrong password, a taken name, throttling (with the wait) and closed
// registration; a session that expired mid-chat says so (the unsent text waits in sessionStorage).
import { ref, computed, onBeforeUnmount, nextTick, onMounted } from 'vue'
import { store } from '../store.js'
import { t } from '../i18n.js'
import { login, register, authErrorText, noteRegistration } from '../auth.js'
import AppIcon from './AppIcon.js'
import SettingsButtons from './SettingsButtons.js'

export default {
  name: 'LoginView',
  components: { AppIcon, SettingsButtons },
  setup() {
    const mode = ref('login')
    const username = ref('')
    const password = ref('')
    const error = ref('')
    const busy = ref(false)
    const waitUntil = ref(0)
    const now = ref(Date.now())
    const userInput = ref(null)
    let timer = null

    const registrationOpen = computed(() => store.config?.registration_open !== false)
    const waitLeft = computed(() => Math.max(0, Math.ceil((waitUntil.value - now.value) / 1000)))
    const shownError = computed(() => (waitLeft.value > 0 ? t('auth.throttled', { seconds: waitLeft.value }) : error.value))
    const canSubmit = computed(() => !busy.value && waitLeft.value === 0 && username.value.trim() && password.value)

    function setMode(next) {
      mode.value = next
      error.value = ''
      nextTick(() => userInput.value?.focus())
    }

    function startCountdown(seconds) {
      waitUntil.value = Date.now() + seconds * 1000
      now.value = Date.now()
      clearInterval(timer)
      timer = setInterval(() => {
        now.value = Date.now()
        if (waitLeft.value === 0) { clearInterval(timer); error.value = '' }
      }, 250)
    }

    async function submit() {
      if (!canSubmit.value) return
      busy.value = true
      error.value = ''
      try {
        if (mode.value === 'login') await login(username.value.trim(), password.value)
        else await register(username.value.trim(), password.value)
      } catch (failure) {
        error.value = authErrorText(failure, mode.value)
        if (failure?.status === 429 && failure.retryAfter) startCountdown(failure.retryAfter)
        if (failure?.status === 403 && mode.value === 'register') noteRegistration(false)
      } finally {
        busy.value = false
      }
    }

    onMounted(() => userInput.value?.focus())
    onBeforeUnmount(() => clearInterval(timer))

    return { store, t, mode, username, password, shownError, busy, canSubmit, registrationOpen, setMode, submit, userInput }
  },
  template: /*html*/ `
    <div class="auth-page">
      <div class="auth-settings"><SettingsButtons /></div>
      <div class="auth-card">
        <div class="auth-brand">
          <span class="brand-mark"><AppIcon name="logo" :size="26" /></span>
          <h1>{{ mode === 'login' ? t('auth.welcome') : t('auth.createAccount') }}</h1>
          <p class="muted">{{ t('auth.tagline') }}</p>
        </div>
        <p v-if="store.sessionExpired" class="auth-note" role="status">
          <AppIcon name="info" :size="16" /> {{ t('auth.sessionExpired') }}
        </p>
        <form class="auth-form" @submit.prevent="submit" novalidate>
          <label class="field">
            <span>{{ t('auth.username') }}</span>
            <input ref="userInput" v-model="username" name="username" autocomplete="username" autocapitalize="off"
                   spellcheck="false" maxlength="64" required />
          </label>
          <label class="field">
            <span>{{ t('auth.password') }}</span>
            <input v-model="password" name="password" type="password" maxlength="256" required
                   :autocomplete="mode === 'login' ? 'current-password' : 'new-password'" />
          </label>
          <p v-if="shownError" class="auth-error" role="alert">{{ shownError }}</p>
          <button type="submit" class="btn btn-primary btn-block" :disabled="!canSubmit">
            {{ busy ? t('auth.working') : mode === 'login' ? t('auth.submitLogin') : t('auth.submitRegister') }}
          </button>
        </form>
        <p class="auth-switch" v-if="mode === 'login' && registrationOpen">
          {{ t('auth.noAccount') }}
          <button type="button" class="link-btn" @click="setMode('register')">{{ t('auth.register') }}</button>
        </p>
        <p class="auth-switch" v-else-if="mode === 'register'">
          {{ t('auth.haveAccount') }}
          <button type="button" class="link-btn" @click="setMode('login')">{{ t('auth.login') }}</button>
        </p>
        <p class="auth-switch muted" v-else>{{ t('auth.registrationClosed') }}</p>
      </div>
    </div>`,
}
