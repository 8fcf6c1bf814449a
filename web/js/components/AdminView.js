// /admin: registration open or closed, create a user, and the users table (searchable, paged as it scrolls) with
// reset password, disable / enable, make / unmake admin and delete. The server decides (403 for non-admins).
import '../pageMessages.js'
import { ref, computed, watch, nextTick, onMounted, onBeforeUnmount } from 'vue'
import { store, toast } from '../store.js'
import { t } from '../useI18n.js'
import { useAdmin } from '../useAdmin.js'
import { errorText } from '../errorText.js'
import AppIcon from './AppIcon.js'
import PageHeader from './PageHeader.js'
import AdminCreateUser from './AdminCreateUser.js'
import AdminUserRow from './AdminUserRow.js'
import AdminResetPassword from './AdminResetPassword.js'
import AdminDeleteUser from './AdminDeleteUser.js'
import ConfirmDialog from './ConfirmDialog.js'

export default {
  name: 'AdminView',
  components: { AppIcon, PageHeader, AdminCreateUser, AdminUserRow, AdminResetPassword, AdminDeleteUser, ConfirmDialog },
  setup() {
    const admin = useAdmin()
    const state = admin.state
    const query = ref('')
    const actionError = ref('')
    const busyId = ref(null)
    const resetting = ref(null) //  the user whose password is being reset
    const deleting = ref(null) //   the user being deleted
    const confirmSelf = ref(null) // {user, kind} an action that takes the admin's own rights away
    const scroller = ref(null)
    const sentinel = ref(null)
    const errorBox = ref(null)
    let observer = null
    let debounce = null

    const isAdmin = computed(() => store.user?.role === 'admin' && !state.forbidden)
    const listErrorText = computed(() => (state.listError ? errorText(state.listError) : ''))
    const isSelf = (u) => store.user && String(store.user.id) === String(u.id)

    watch(query, (q) => {
      clearTimeout(debounce)
      debounce = setTimeout(() => admin.search(q), 300)
    })

    function showError(e, known) {
      if (e?.status === 401) return
      actionError.value = errorText(e, known)
      nextTick(() => errorBox.value?.scrollIntoView?.({ block: 'nearest' }))
    }

    async function run(user, fn, known) {
      actionError.value = ''
      busyId.value = user.id
      try {
        await fn()
      } catch (e) {
        showError(e, known)
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
        if (to && isSelf(user)) admin.reload() // our own sessions just ended: the 401 sends us to the login page
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
      const c = confirmSelf.value
      confirmSelf.value = null
      if (!c) return
      if (c.kind === 'disable') doToggleDisabled(c.user)
      else doToggleRole(c.user)
    }

    function resetDone() {
      toast(t('admin.resetDone', { name: resetting.value.username }))
      resetting.value = null
    }
    function deleteDone() {
      toast(t('admin.deletedDone', { name: deleting.value.username }))
      deleting.value = null
    }

    async function toggleRegistration(e) {
      const open = e.target.checked
      actionError.value = ''
      try {
        await admin.setRegistrationOpen(open)
      } catch (err) {
        e.target.checked = state.registrationOpen
        showError(err)
      }
    }

    function observe() {
      observer?.disconnect()
      if (!sentinel.value || !scroller.value) return
      observer = new IntersectionObserver((entries) => {
        if (entries.some((x) => x.isIntersecting) && state.nextCursor && !state.loading) admin.loadMore()
      }, { root: scroller.value, rootMargin: '300px' })
      observer.observe(sentinel.value)
    }
    // a page arrived but the end of the table is still in view (a tall screen): keep loading
    watch(() => state.loading, (loading) => {
      if (loading) return
      nextTick(() => {
        const el = sentinel.value
        const box = scroller.value
        if (el && box && state.nextCursor && el.getBoundingClientRect().top - box.getBoundingClientRect().bottom < 300) admin.loadMore()
      })
    })

    onMounted(() => {
      if (store.user?.role !== 'admin') return
      admin.reload()
      admin.loadSettings().catch((e) => showError(e))
      nextTick(observe)
    })
    watch(isAdmin, (yes) => { if (yes) nextTick(observe) })
    onBeforeUnmount(() => { observer?.disconnect(); clearTimeout(debounce) })

    return {
      store, state, t, query, actionError, busyId, resetting, deleting, confirmSelf, scroller, sentinel, errorBox,
      isAdmin, listErrorText, toggleDisabled, toggleRole, confirmSelfAction, resetDone, deleteDone, toggleRegistration,
      admin, reload: admin.reload, loadMore: admin.loadMore,
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
                  <p class="muted card-note">{{ state.registrationOpen === false ? t('admin.registrationClosedNote') : t('admin.registrationOpenNote') }}</p>
                </div>
                <label class="switch">
                  <input type="checkbox" role="switch" data-testid="registration-toggle" :checked="state.registrationOpen === true"
                         :disabled="state.registrationOpen === null || state.savingRegistration"
                         :aria-label="t('admin.registrationLabel')" @change="toggleRegistration" />
                  <span class="switch-track" aria-hidden="true"></span>
                  <span class="switch-text">{{ state.registrationOpen === false ? t('admin.closed') : t('admin.open') }}</span>
                </label>
              </div>
            </section>

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
                    <AdminUserRow v-for="u in state.users" :key="u.id" :user="u" :busy="busyId === u.id"
                                  @reset="resetting = u" @delete="deleting = u"
                                  @toggle-disabled="toggleDisabled(u)" @toggle-role="toggleRole(u)" />
                  </tbody>
                </table>
              </div>
              <p v-if="state.loaded && !state.users.length && !state.loading" class="conv-empty">
                {{ state.query.trim() ? t('admin.noResults', { q: state.query.trim() }) : t('admin.noUsers') }}
              </p>
              <p v-if="listErrorText" class="form-error" role="alert">
                {{ t('admin.loadFailed', { error: listErrorText }) }} <button type="button" class="link-btn" @click="reload">{{ t('common.retry') }}</button>
              </p>
              <div ref="sentinel" class="conv-sentinel" aria-hidden="true"></div>
              <p v-if="state.loading" class="conv-loading"><span class="spinner small"></span>{{ t('sidebar.loadMore') }}</p>
              <p v-else-if="state.nextCursor" class="more-row">
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
