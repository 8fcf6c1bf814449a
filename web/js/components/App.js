// Root: boot screen, login page, or the sidebar + chat layout; route guard and global keyboard shortcuts.
import { computed, watch, onMounted, onBeforeUnmount } from 'vue'
import { store } from '../store.js'
import { navigate } from '../router.js'
import { t } from '../i18n.js'
import { chat, openConversation, openBlank, stop, isGenerating } from '../chat.js'
import { sidebar, closeDrawer } from '../conversations.js'
import { invalidate } from '../markdown/libraries.js'
import LoginView from './LoginView.js'
import AppSidebar from './AppSidebar.js'
import ChatView from './ChatView.js'
import { lazyPage } from '../lazy.js'
import ToastHost from './ToastHost.js'
import AppIcon from './AppIcon.js'

// The account and admin pages load when first opened (their code, strings and styles): the chat's first load does
// not carry them.
const AccountView = lazyPage(() => import('./AccountView.js'))
const AdminView = lazyPage(() => import('./AdminView.js'))

export default {
  name: 'App',
  components: { LoginView, AppSidebar, ChatView, AccountView, AdminView, ToastHost, AppIcon },
  setup() {
    const route = computed(() => store.route)
    const showLogin = computed(() => !store.user)

    // Route guard + opening what the URL names.
    watch(
      () => [store.booted, store.user?.id, store.route.name, store.route.params.id],
      () => {
        if (!store.booted) return
        const route = store.route
        if (!store.user) {
          if (route.name !== 'login') {
            const here = location.pathname + location.search
            navigate(here === '/' ? '/login' : `/login?next=${encodeURIComponent(here)}`, { replace: true })
          }
          return
        }
        if (route.name === 'login') {
          const next = route.query?.next
          navigate(typeof next === 'string' && next.startsWith('/') && !next.startsWith('//') ? next : '/', { replace: true })
        } else if (route.name === 'chat') openConversation(route.params.id)
        else if (route.name === 'home') openBlank()
      },
      { immediate: true },
    )

    // The tab title follows the open conversation.
    watch(
      () => [store.user, chat.conversation?.title, store.route.name, store.locale],
      () => {
        const title = chat.conversation?.title
        const page = { account: 'account.title', admin: 'admin.title' }[store.route.name]
        document.title = !store.user ? `${t('auth.login')} · Chatbox`
          : page ? `${t(page)} · Chatbox` : title ? `${title} · Chatbox` : 'Chatbox'
      },
      { immediate: true },
    )

    // Copy-button labels inside rendered Markdown are in the UI language.
    watch(() => store.locale, () => invalidate())

    function onKeydown(event) {
      if (!store.user) return
      const mod = event.ctrlKey || event.metaKey
      if (mod && event.shiftKey && (event.key === 'o' || event.key === 'O' || event.code === 'KeyO')) {
        event.preventDefault()
        closeDrawer()
        navigate('/')
        return
      }
      if (event.key === 'Escape' && !event.defaultPrevented && !document.querySelector('.modal-backdrop')) {
        if (sidebar.drawerOpen) { closeDrawer(); return }
        if (isGenerating()) {
          event.preventDefault()
          stop()
        }
      }
    }
    onMounted(() => window.addEventListener('keydown', onKeydown))
    onBeforeUnmount(() => window.removeEventListener('keydown', onKeydown))

    return { store, sidebar, route, showLogin, t }
  },
  template: /*html*/ `
    <div v-if="!store.booted" class="boot" aria-busy="true"><div class="spinner"></div></div>
    <LoginView v-else-if="showLogin" />
    <div v-else class="layout" :class="{ 'drawer-open': sidebar.drawerOpen }">
      <AppSidebar />
      <main class="main">
        <div v-if="route.name === 'notfound'" class="center-note">
          <h1>{{ t('notfound.title') }}</h1>
          <a href="/" data-link class="btn btn-primary">{{ t('notfound.back') }}</a>
        </div>
        <AccountView v-else-if="route.name === 'account'" />
        <AdminView v-else-if="route.name === 'admin'" />
        <ChatView v-else />
      </main>
    </div>
    <ToastHost />`,
}
