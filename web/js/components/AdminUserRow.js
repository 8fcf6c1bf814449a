// One account in the admin table: name, role, state, dates, number of chats, and a menu of what can be done to it
// (reset password, disable / enable, make / unmake admin, delete). The menu is keyboard-operable (arrows, Esc).
import { ref, computed } from 'vue'
import { store } from '../store.js'
import { t, formatDateTime, formatRelative } from '../i18n.js'
import AppIcon from './AppIcon.js'
import { usePopover } from '../usePopover.js'

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
    const button = ref(null)
    const menu = ref(null)
    const { open, place, toggle, close, onKeydown: onMenuKeydown } = usePopover(button, menu, { align: 'right' })
    function pick(event) {
      close(false)
      emit(event)
    }

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
