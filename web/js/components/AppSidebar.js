// New chat, search, the conversations grouped by day with infinite scroll, and the user's settings + logout.
// Below 768 px it is a drawer over the chat.
import { ref, computed, watch, onMounted } from 'vue'
import { store, toast } from '../store.js'
import { navigate } from '../router.js'
import { t } from '../i18n.js'
import { logout } from '../auth.js'
import { chat } from '../chat.js'
import {
  sidebar, conversationList, reloadConversations, deleteConversation, closeDrawer, groupConversations,
} from '../conversations.js'
import { errorText, isUnauthorized } from '../errors.js'
import { useSearchBox } from '../useCursorList.js'
import { useInfiniteScroll } from '../useInfiniteScroll.js'
import AppIcon from './AppIcon.js'
import ConversationItem from './ConversationItem.js'
import ConfirmDialog from './ConfirmDialog.js'
import SettingsButtons from './SettingsButtons.js'

export default {
  name: 'AppSidebar',
  components: { AppIcon, ConversationItem, ConfirmDialog, SettingsButtons },
  setup() {
    const query = useSearchBox(conversationList)
    const sentinel = ref(null)
    const pendingDelete = ref(null)
    useInfiniteScroll(sentinel, conversationList, { root: (element) => element.closest('.conv-list'), margin: 200 })

    const groups = computed(() => groupConversations(sidebar.conversations))
    const activeId = computed(() => (store.route.name === 'chat' ? String(store.route.params.id) : null))
    const initial = computed(() => (store.user?.username || '?').slice(0, 1).toUpperCase())
    const isAdmin = computed(() => store.user?.role === 'admin')

    // A drawer closes when the user goes somewhere.
    watch(() => store.route.path, closeDrawer)

    function newChat() {
      closeDrawer()
      navigate('/')
    }

    async function confirmDelete() {
      const conv = pendingDelete.value
      pendingDelete.value = null
      if (!conv) return
      try {
        await deleteConversation(conv.id)
        if (String(chat.id) === String(conv.id)) navigate('/', { replace: true })
      } catch (error) {
        if (!isUnauthorized(error)) toast(errorText(error), 'error')
      }
    }

    onMounted(() => {
      if (!sidebar.loaded && !sidebar.loading) reloadConversations()
    })

    return {
      store, sidebar, t, query, groups, activeId, initial, isAdmin, sentinel, pendingDelete, newChat, confirmDelete, logout,
      closeDrawer, reload: reloadConversations,
    }
  },
  template: /*html*/ `
    <div class="drawer-backdrop" v-if="sidebar.drawerOpen" @click="closeDrawer"></div>
    <aside class="sidebar" :class="{ open: sidebar.drawerOpen }" :aria-label="t('sidebar.conversations')">
      <div class="sidebar-top">
        <a href="/" data-link class="brand"><span class="brand-mark small"><AppIcon name="logo" :size="18" /></span>Chatbox</a>
        <button type="button" class="icon-btn drawer-close" :aria-label="t('sidebar.close')" @click="closeDrawer">
          <AppIcon name="close" />
        </button>
      </div>
      <button type="button" class="new-chat-btn" data-testid="new-chat" @click="newChat">
        <AppIcon name="edit" /><span>{{ t('sidebar.newChat') }}</span><kbd class="kbd-hint">Ctrl ⇧ O</kbd>
      </button>
      <div class="search-box">
        <AppIcon name="search" :size="16" />
        <input v-model="query" type="search" :placeholder="t('sidebar.search')" :aria-label="t('sidebar.search')" data-testid="search" />
      </div>
      <nav class="conv-list" :aria-label="t('sidebar.conversations')">
        <section v-for="group in groups" :key="group.key" class="conv-group">
          <h2 class="conv-group-title">{{ t(group.label) }}</h2>
          <ul>
            <ConversationItem v-for="conv in group.items" :key="conv.id" :conv="conv" :active="activeId === String(conv.id)"
                              @delete="pendingDelete = conv" />
          </ul>
        </section>
        <p v-if="sidebar.loaded && !sidebar.conversations.length && !sidebar.loading" class="conv-empty">
          {{ sidebar.query.trim() ? t('sidebar.noResults', { q: sidebar.query.trim() }) : t('sidebar.empty') }}
        </p>
        <p v-if="sidebar.error" class="conv-empty">
          {{ t('sidebar.loadFailed') }} <button type="button" class="link-btn" @click="reload">{{ t('sidebar.retry') }}</button>
        </p>
        <div ref="sentinel" class="conv-sentinel" aria-hidden="true"></div>
        <p v-if="sidebar.loading" class="conv-loading"><span class="spinner small"></span>{{ t('sidebar.loadMore') }}</p>
      </nav>
      <div class="sidebar-foot">
        <div class="foot-settings">
          <SettingsButtons />
          <nav class="foot-links" :aria-label="t('account.menu')">
            <a v-if="isAdmin" href="/admin" data-link class="icon-btn" :class="{ current: store.route.name === 'admin' }"
               :aria-label="t('admin.title')" :title="t('admin.title')" :aria-current="store.route.name === 'admin' ? 'page' : null" data-testid="admin-link">
              <AppIcon name="shield" />
            </a>
            <a href="/account" data-link class="icon-btn" :class="{ current: store.route.name === 'account' }"
               :aria-label="t('account.title')" :title="t('account.title')" :aria-current="store.route.name === 'account' ? 'page' : null" data-testid="account-link">
              <AppIcon name="settings" />
            </a>
          </nav>
        </div>
        <div class="foot-user">
          <div class="user-chip" :title="store.user?.username">
            <span class="avatar">{{ initial }}</span><span class="user-name">{{ store.user?.username }}</span>
          </div>
          <button type="button" class="icon-btn" :aria-label="t('auth.logout')" :title="t('auth.logout')" data-testid="logout" @click="logout">
            <AppIcon name="logout" />
          </button>
        </div>
      </div>
    </aside>
    <ConfirmDialog v-if="pendingDelete" :title="t('conv.deleteTitle')"
                   :body="t('conv.deleteBody', { title: pendingDelete.title || t('conv.untitled') })"
                   :confirm-label="t('common.delete')" danger
                   @confirm="confirmDelete" @cancel="pendingDelete = null" />`,
}
