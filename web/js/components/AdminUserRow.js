// One account in the admin table: name, role, state, dates, number of chats, and a menu of what can be done to it
// (reset password, disable / enable, make / unmake admin, delete). The menu is keyboard-operable (arrows, Esc).
import { ref, computed, nextTick, onBeforeUnmount } from 'vue'
import { store } from '../store.js'
import { t, formatDateTime, formatRelative } from '../i18n.js'
import AppIcon from './AppIcon.js'

export default {
  name: 'AdminUserRow',
  components: { AppIcon },
  props: {
    user: { type: Object, required: true },
    busy: { type: Boolean, default: false }, // an action on this row is under way
  },
  emits: ['reset', 'toggle-disabled', 'toggle-role', 'delete'],
  setup(props, { emit }) {
    const isSelf = computed(() => store.user && String(store.user.id) === String(props.user.id))
    const isAdmin = computed(() => props.user.role === 'admin')
    const open = ref(false)
    const button = ref(null)
    const menu = ref(null)

    const items = () => [...(menu.value?.querySelectorAll('[role="menuitem"]') ?? [])]
    function onOutside(event) {
      if (!menu.value?.contains(event.target) && !button.value?.contains(event.target)) close(false)
    }
    const place = ref({})
    function position() {
      // fixed to the viewport beside the button, so no scrolling box around the table can clip it
      const rect = button.value.getBoundingClientRect()
      const below = window.innerHeight - rect.bottom > 200
      place.value = {
        right: `${Math.max(8, window.innerWidth - rect.right)}px`,
        ...(below ? { top: `${rect.bottom + 4}px` } : { bottom: `${window.innerHeight - rect.top + 4}px` }),
      }
    }
    // Scrolling moves the menu with its button (a scroll that brought the button into view may land just after
    // the click); it closes when the button leaves the window, and on resize.
    function onMove(event) {
      if (!open.value || !button.value) return
      if (event?.type === 'resize') { close(false); return }
      const rect = button.value.getBoundingClientRect()
      if (rect.bottom < 0 || rect.top > window.innerHeight) close(false)
      else position()
    }
    function show() {
      position()
      open.value = true
      document.addEventListener('pointerdown', onOutside, true)
      window.addEventListener('scroll', onMove, true)
      window.addEventListener('resize', onMove)
      nextTick(() => items()[0]?.focus())
    }
    function close(refocus = true) {
      if (!open.value) return
      open.value = false
      document.removeEventListener('pointerdown', onOutside, true)
      window.removeEventListener('scroll', onMove, true)
      window.removeEventListener('resize', onMove)
      if (refocus) button.value?.focus()
    }
    function toggle() { open.value ? close() : show() }
    function onMenuKeydown(event) {
      const list = items()
      const index = list.indexOf(document.activeElement)
      if (event.key === 'Escape') { event.preventDefault(); event.stopPropagation(); close() }
      else if (event.key === 'ArrowDown') { event.preventDefault(); list[(index + 1) % list.length]?.focus() }
      else if (event.key === 'ArrowUp') { event.preventDefault(); list[(index - 1 + list.length) % list.length]?.focus() }
      else if (event.key === 'Home') { event.preventDefault(); list[0]?.focus() }
      else if (event.key === 'End') { event.preventDefault(); list.at(-1)?.focus() }
      else if (event.key === 'Tab') close(false)
    }
    function pick(event) {
      close(false)
      emit(event)
    }
    onBeforeUnmount(() => close(false))

    return { t, formatDateTime, formatRelative, isSelf, isAdmin, open, place, button, menu, toggle, onMenuKeydown, pick }
  },
  template: /*html*/ `
    <tr class="user-row" :class="{ 'is-disabled': user.disabled }" :data-username="user.username">
      <th scope="row" class="user-cell">
        <span class="avatar small" aria-hidden="true">{{ (user.username || '?').slice(0, 1).toUpperCase() }}</span>
        <span class="user-cell-name" :title="user.username">{{ user.username }}</span>
        <span v-if="isSelf" class="badge">{{ t('admin.you') }}</span>
      </th>
      <td :data-label="t('admin.role')">
        <span class="badge" :class="isAdmin ? 'badge-accent' : ''" data-testid="role">{{ isAdmin ? t('admin.roleAdmin') : t('admin.roleUser') }}</span>
      </td>
      <td :data-label="t('admin.status')">
        <span class="badge" :class="user.disabled ? 'badge-danger' : 'badge-ok'" data-testid="status">{{ user.disabled ? t('admin.disabled') : t('admin.active') }}</span>
      </td>
      <td :data-label="t('admin.created')"><time :datetime="user.created_at" :title="formatDateTime(user.created_at)">{{ formatDateTime(user.created_at, { time: false }) }}</time></td>
      <td :data-label="t('admin.lastActive')">
        <time v-if="user.last_active_at" :datetime="user.last_active_at" :title="formatDateTime(user.last_active_at)">{{ formatRelative(user.last_active_at) }}</time>
        <span v-else class="muted">{{ t('admin.never') }}</span>
      </td>
      <td :data-label="t('admin.chats')" class="num" data-testid="conversations">{{ user.conversation_count }}</td>
      <td class="row-actions">
        <button ref="button" type="button" class="icon-btn" :disabled="busy" aria-haspopup="menu" :aria-expanded="open ? 'true' : 'false'"
                :aria-label="t('admin.actionsFor', { name: user.username })" :title="t('admin.actions')" data-testid="user-actions" @click="toggle">
          <span v-if="busy" class="spinner small"></span><AppIcon v-else name="more" />
        </button>
        <div v-if="open" ref="menu" class="menu" role="menu" :style="place" :aria-label="t('admin.actionsFor', { name: user.username })" @keydown="onMenuKeydown">
          <button type="button" role="menuitem" class="menu-item" @click="pick('reset')">
            <AppIcon name="key" :size="16" />{{ t('admin.resetPassword') }}
          </button>
          <button type="button" role="menuitem" class="menu-item" @click="pick('toggle-disabled')">
            <AppIcon :name="user.disabled ? 'userCheck' : 'ban'" :size="16" />{{ user.disabled ? t('admin.enable') : t('admin.disable') }}
          </button>
          <button type="button" role="menuitem" class="menu-item" @click="pick('toggle-role')">
            <AppIcon name="shield" :size="16" />{{ isAdmin ? t('admin.demote') : t('admin.promote') }}
          </button>
          <button type="button" role="menuitem" class="menu-item danger" @click="pick('delete')">
            <AppIcon name="trash" :size="16" />{{ t('admin.deleteMenu') }}
          </button>
        </div>
      </td>
    </tr>`,
}
