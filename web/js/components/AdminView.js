// /admin: registration open or closed, the model connections and model settings, create a user, and the users table (searchable, paged as it scrolls) with
// reset password, disable / enable, make / unmake admin and delete. The server decides (403 for non-admins).
import '../pageMessages.js'
import { ref, computed, nextTick, onMounted } from 'vue'
import { store, toast } from '../store.js'
import { t } from '../i18n.js'
import { useAdmin } from '../useAdmin.js'
import { useSearchBox } from '../useCursorList.js'
import { useInfiniteScroll } from '../useInfiniteScroll.js'
import { errorText, isUnauthorized } from '../errors.js'
import AppIcon from './AppIcon.js'
import PageHeader from './PageHeader.js'
import AdminCreateUser from './AdminCreateUser.js'
import AdminUserRow from './AdminUserRow.js'
import AdminResetPassword from './AdminResetPassword.js'
import AdminDeleteUser from './AdminDeleteUser.js'
import ConfirmDialog from './ConfirmDialog.js'
import AdminConnections from './AdminConnections.js'

export default {
  name: 'AdminView',
  components: { AppIcon, PageHeader, AdminCreateUser, AdminUserRow, AdminResetPassword, AdminDeleteUser, ConfirmDialog, AdminConnections },
  setup() {
    const admin = useAdmin()
    const { users, forbidden, registrationOpen, savingRegistration } = admin
    const query = useSearchBox(users)
    const actionError = ref('')
    const busyId = ref(null)
    const resetting = ref(null) //  the user whose password is being reset
    const deleting = ref(null) //   the user being deleted
    const confirmSelf = ref(null) // {user, kind} an action that takes the admin's own rights away
    const scroller = ref(null)
    const sentinel = ref(null)
    const errorBox = ref(null)
    useInfiniteScroll(sentinel, users, { root: () => scroller.value, margin: 300 })

    const isAdmin = computed(() => store.user?.role === 'admin' && !forbidden.value)
    const listErrorText = computed(() => (users.error.value ? errorText(users.error.value) : ''))
    const isSelf = (user) => store.user && String(store.user.id) === String(user.id)

    function showError(error, known) {
      if (isUnauthorized(error)) return
      actionError.value = errorText(error, known)
      nextTick(() => errorBox.value?.scrollIntoView?.({ block: 'nearest' }))
    }

    async function run(user, fn, known) {
      actionError.value = ''
      busyId.value = user.id
      try {
        await fn()
      } catch (error) {
        showError(error, known)
      } finally {
        busyId.value = null
      }
    }

    function toggleDisabled(user) {
      if (!user.disabled && isSelf(user)) { confirmSelf.value = { user, kind: 'disable' }; return }
      doToggleDisabled(user)
    }
    function doToggleDisabled(user) {
      const to = !user.disabled
      return run(user, async () => {
        await admin.setDisabled(user, to)
        toast(t(to ? 'admin.disabledDone' : 'admin.enabledDone', { name: user.username }))
        if (to && isSelf(user)) users.reload() // our own sessions just ended: the 401 sends us to the login page
      }, { 409: 'admin.lastAdmin' })
    }
    function toggleRole(user) {
      if (user.role === 'admin' && isSelf(user)) { confirmSelf.value = { user, kind: 'demote' }; return }
      doToggleRole(user)
    }
    function doToggleRole(user) {
      const to = user.role === 'admin' ? 'user' : 'admin'
      return run(user, async () => {
        await admin.setRole(user, to)
        toast(t(to === 'admin' ? 'admin.promotedDone' : 'admin.demotedDone', { name: user.username }))
      }, { 409: 'admin.lastAdmin' })
    }
    function confirmSelfAction() {
      const pending = confirmSelf.value
      confirmSelf.value = null
      if (!pending) return
      if (pending.kind === 'disable') doToggleDisabled(pending.user)
      else doToggleRole(pending.user)
    }

    function resetDone() {
      toast(t('admin.resetDone', { name: resetting.value.username }))
      resetting.value = null
    }
    function deleteDone() {
      toast(t('admin.deletedDone', { name: deleting.value.username }))
      deleting.value = null
    }

    async function toggleRegistration(event) {
      const open = event.target.checked
      actionError.value = ''
      try {
        await admin.setRegistrationOpen(open)
      } catch (error) {
        event.target.checked = registrationOpen.value
        showError(error)
      }
    }

    onMounted(() => {
      if (store.user?.role !== 'admin') return
      users.reload()
      admin.loadSettings().catch((error) => showError(error))
    })

    return {
      store, t, query, actionError, busyId, resetting, deleting, confirmSelf, scroller, sentinel, errorBox,
      isAdmin, listErrorText, toggleDisabled, toggleRole, confirmSelfAction, resetDone, deleteDone, toggleRegistration,
      admin, registrationOpen, savingRegistration,
      users: users.items, loading: users.loading, loaded: users.loaded, nextCursor: users.nextCursor, searched: users.query,
      reload: users.reload, loadMore: users.loadMore,
    }
  },
  template: /*html*/ `
    <section class="page" data-testid="admin-page">
      <PageHeader :title="t('admin.title')" />
      <div ref="scroller" class="page-scroll">
        <div class="page-content wide">
          <div v-if="!isAdmin" class="center-note" data-testid="admin-forbidden">
            <AppIcon name="lock" :size="28" />
            <p>{{ t('admin.forbidden') }}</p>
            <a href="/" data-link class="btn btn-primary">{{ t('notfound.back') }}</a>
          </div>
          <template v-else>
            <p v-if="actionError" ref="errorBox" class="page-error" role="alert" data-testid="admin-error">
              <AppIcon name="alert" :size="16" /><span>{{ actionError }}</span>
              <button type="button" class="icon-btn tiny" :aria-label="t('common.close')" @click="actionError = ''"><AppIcon name="close" :size="14" /></button>
            </p>

            <section class="card" aria-labelledby="reg-title">
              <div class="card-row">
                <div>
                  <h2 id="reg-title">{{ t('admin.registration') }}</h2>
                  <p class="muted card-note">{{ registrationOpen === false ? t('admin.registrationClosedNote') : t('admin.registrationOpenNote') }}</p>
                </div>
                <label class="switch">
                  <input type="checkbox" role="switch" data-testid="registration-toggle" :checked="registrationOpen === true"
                         :disabled="registrationOpen === null || savingRegistration"
                         :aria-label="t('admin.registrationLabel')" @change="toggleRegistration" />
                  <span class="switch-track" aria-hidden="true"></span>
                  <span class="switch-text">{{ registrationOpen === false ? t('admin.closed') : t('admin.open') }}</span>
                </label>
              </div>
            </section>

            <AdminConnections />

            <section class="card" aria-labelledby="create-title">
              <h2 id="create-title">{{ t('admin.createTitle') }}</h2>
              <AdminCreateUser :create="admin.createUser" />
            </section>

            <section class="card" aria-labelledby="users-title">
              <div class="card-row">
                <h2 id="users-title">{{ t('admin.users') }}</h2>
                <div class="search-box inline">
                  <AppIcon name="search" :size="16" />
                  <input v-model="query" type="search" :placeholder="t('admin.search')" :aria-label="t('admin.search')" data-testid="user-search" />
                </div>
              </div>
              <div class="table-wrap">
                <table class="users-table" data-testid="users-table">
                  <thead>
                    <tr>
                      <th scope="col">{{ t('auth.username') }}</th>
                      <th scope="col">{{ t('admin.role') }}</th>
                      <th scope="col">{{ t('admin.status') }}</th>
                      <th scope="col">{{ t('admin.created') }}</th>
                      <th scope="col">{{ t('admin.lastActive') }}</th>
                      <th scope="col" class="num">{{ t('admin.chats') }}</th>
                      <th scope="col"><span class="sr-only">{{ t('admin.actions') }}</span></th>
                    </tr>
                  </thead>
                  <tbody>
                    <AdminUserRow v-for="user in users" :key="user.id" :user="user" :busy="busyId === user.id"
                                  @reset="resetting = user" @delete="deleting = user"
                                  @toggle-disabled="toggleDisabled(user)" @toggle-role="toggleRole(user)" />
                  </tbody>
                </table>
              </div>
              <p v-if="loaded && !users.length && !loading" class="conv-empty">
                {{ searched.trim() ? t('admin.noResults', { q: searched.trim() }) : t('admin.noUsers') }}
              </p>
              <p v-if="listErrorText" class="form-error" role="alert">
                {{ t('admin.loadFailed', { error: listErrorText }) }} <button type="button" class="link-btn" @click="reload">{{ t('common.retry') }}</button>
              </p>
              <div ref="sentinel" class="conv-sentinel" aria-hidden="true"></div>
              <p v-if="loading" class="conv-loading"><span class="spinner small"></span>{{ t('sidebar.loadMore') }}</p>
              <p v-else-if="nextCursor" class="more-row">
                <button type="button" class="btn btn-small" data-testid="load-more-users" @click="loadMore">{{ t('admin.loadMore') }}</button>
              </p>
            </section>
          </template>
        </div>
      </div>
      <AdminResetPassword v-if="resetting" :user="resetting" :reset="admin.resetPassword" @done="resetDone" @cancel="resetting = null" />
      <AdminDeleteUser v-if="deleting" :user="deleting" :remove="admin.deleteUser" @done="deleteDone" @cancel="deleting = null" />
      <ConfirmDialog v-if="confirmSelf" danger
                     :title="t(confirmSelf.kind === 'disable' ? 'admin.selfDisableTitle' : 'admin.selfDemoteTitle')"
                     :body="t(confirmSelf.kind === 'disable' ? 'admin.selfDisableBody' : 'admin.selfDemoteBody')"
                     :confirm-label="t(confirmSelf.kind === 'disable' ? 'admin.disable' : 'admin.demote')"
                     @confirm="confirmSelfAction" @cancel="confirmSelf = null" />
    </section>`,
}
