// /account: who is signed in, change password, active sessions, export / import of the history, delete the account.
import { computed, onMounted } from 'vue'
import '../pageMessages.js'
import { store } from '../store.js'
import { t, formatDateTime } from '../i18n.js'
import { useAccount } from '../useAccount.js'
import AppIcon from './AppIcon.js'
import PageHeader from './PageHeader.js'
import AccountPassword from './AccountPassword.js'
import AccountSessions from './AccountSessions.js'
import AccountTransfer from './AccountTransfer.js'
import AccountDelete from './AccountDelete.js'

export default {
  name: 'AccountView',
  components: { AppIcon, PageHeader, AccountPassword, AccountSessions, AccountTransfer, AccountDelete },
  setup() {
    const account = useAccount()
    const { sessions, sessionsLoading, sessionsLoaded, sessionsError } = account
    const user = computed(() => store.user)
    const initial = computed(() => (store.user?.username || '?').slice(0, 1).toUpperCase())
    onMounted(() => account.loadSessions())
    return { t, formatDateTime, account, user, initial, sessions, sessionsLoading, sessionsLoaded, sessionsError }
  },
  template: /*html*/ `
    <section class="page" data-testid="account-page">
      <PageHeader :title="t('account.title')" />
      <div class="page-scroll">
        <div class="page-content">
          <section class="card profile-card">
            <span class="avatar large" aria-hidden="true">{{ initial }}</span>
            <div class="profile-text">
              <div class="profile-name" data-testid="account-username">{{ user?.username }}</div>
              <div class="muted">
                <span class="badge" :class="user?.role === 'admin' ? 'badge-accent' : ''">{{ user?.role === 'admin' ? t('admin.roleAdmin') : t('admin.roleUser') }}</span>
                <span v-if="user?.created_at"> · {{ t('account.memberSince', { date: formatDateTime(user.created_at, { time: false }) }) }}</span>
              </div>
            </div>
            <a v-if="user?.role === 'admin'" href="/admin" data-link class="btn btn-small"><AppIcon name="shield" :size="15" />{{ t('admin.title') }}</a>
          </section>

          <section class="card" aria-labelledby="pw-title">
            <h2 id="pw-title">{{ t('account.passwordTitle') }}</h2>
            <p class="muted card-note">{{ t('account.passwordNote') }}</p>
            <AccountPassword :change="account.changePassword" />
          </section>

          <section class="card" aria-labelledby="sessions-title">
            <h2 id="sessions-title">{{ t('account.sessionsTitle') }}</h2>
            <p class="muted card-note">{{ t('account.sessionsNote') }}</p>
            <AccountSessions :sessions="sessions" :loading="sessionsLoading" :loaded="sessionsLoaded" :load-error="sessionsError"
                             :revoke="account.revokeSession" :reload="account.loadSessions" />
          </section>

          <section class="card" aria-labelledby="data-title">
            <h2 id="data-title">{{ t('account.dataTitle') }}</h2>
            <AccountTransfer :export-all="account.exportAll" :import-file="account.importFile" />
          </section>

          <section class="card card-danger" aria-labelledby="delete-title">
            <h2 id="delete-title">{{ t('account.deleteTitle') }}</h2>
            <AccountDelete :remove="account.deleteAccount" />
          </section>
        </div>
      </div>
    </section>`,
}
