// One conversation in the sidebar: a link to /c/{id}, rename in place (Enter saves, Esc cancels), delete. A search
// result whose text matched opens on the path through the matched message.
import { ref, computed, nextTick } from 'vue'
import { t } from '../i18n.js'
import { chatPath } from '../router.js'
import { toast } from '../store.js'
import { renameConversation, sidebar } from '../conversations.js'
import { focusMessage } from '../chat.js'
import { errorText, isUnauthorized } from '../errors.js'
import AppIcon from './AppIcon.js'

export default {
  name: 'ConversationItem',
  components: { AppIcon },
  props: { conv: { type: Object, required: true }, active: { type: Boolean, default: false } },
  emits: ['delete'],
  setup(props) {
    const editing = ref(false)
    const draft = ref('')
    const input = ref(null)
    let saving = false

    const title = computed(() => props.conv.title || t('conv.untitled'))
    const href = computed(() => chatPath(props.conv.id))

    function startEdit() {
      draft.value = props.conv.title || ''
      editing.value = true
      nextTick(() => { input.value?.focus(); input.value?.select() })
    }
    function cancel() { editing.value = false }
    /** Before the link navigates: a search hit is shown on its branch. */
    function onOpen() {
      const hit = props.conv.match_message_id
      if (hit != null && sidebar.query.trim()) focusMessage(props.conv.id, hit)
    }
    async function save() {
      if (!editing.value || saving) return
      const next = draft.value.trim()
      if (!next || next === props.conv.title) { editing.value = false; return }
      saving = true
      try {
        await renameConversation(props.conv.id, next)
        editing.value = false
      } catch (error) {
        if (!isUnauthorized(error)) toast(errorText(error), 'error')
        editing.value = false
      } finally {
        saving = false
      }
    }
    function onKeydown(event) {
      if (event.key === 'Enter' && !event.isComposing && event.keyCode !== 229) { event.preventDefault(); save() }
      else if (event.key === 'Escape') { event.preventDefault(); event.stopPropagation(); cancel() }
    }

    return { t, editing, draft, input, title, href, startEdit, save, onKeydown, onOpen }
  },
  template: /*html*/ `
    <li class="conv-item" :class="{ active, editing }" :data-id="conv.id" :data-match="conv.match_message_id ?? null">
      <input v-if="editing" ref="input" v-model="draft" class="rename-input" maxlength="200"
             :aria-label="t('conv.renameLabel')" @keydown="onKeydown" @blur="save" />
      <template v-else>
        <a :href="href" data-link class="conv-link" :title="title" :aria-current="active ? 'page' : null"
           @click="onOpen" @dblclick.prevent="startEdit">{{ title }}</a>
        <div class="conv-actions">
          <button type="button" class="icon-btn tiny" :aria-label="t('sidebar.rename')" :title="t('sidebar.rename')" @click="startEdit">
            <AppIcon name="pencil" :size="15" />
          </button>
          <button type="button" class="icon-btn tiny" :aria-label="t('sidebar.delete')" :title="t('sidebar.delete')" @click="$emit('delete')">
            <AppIcon name="trash" :size="15" />
          </button>
        </div>
      </template>
    </li>`,
}
