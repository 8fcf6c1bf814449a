// A reasoning model's thinking, above its answer: open and live while it thinks ("Thinking…"), folded to
// "Thought for N s" once the answer starts (N measured here, from the first reasoning piece to the first answer
// piece; a reloaded message says "Thought"). Its Markdown goes through the same sanitising renderer as answers,
// apart from the answer's own.
import { ref, computed } from 'vue'
import { t } from '../i18n.js'
import AppIcon from './AppIcon.js'
import MarkdownContent from './MarkdownContent.js'

let seq = 0

export default {
  name: 'ThinkingBlock',
  components: { AppIcon, MarkdownContent },
  props: { message: { type: Object, required: true } },
  setup(props) {
    const id = `thinking-${++seq}`
    const chosen = ref(null) // the user's open / closed, once they toggle it
    const thinking = computed(() => props.message.status === 'processing' && !props.message._orphan && !props.message.content)
    const open = computed(() => chosen.value ?? thinking.value)
    const label = computed(() => {
      if (thinking.value) return t('chat.thinkingLive')
      const ms = props.message._thinkMs
      return ms != null ? t('chat.thoughtFor', { seconds: Math.max(1, Math.round(ms / 1000)) }) : t('chat.thought')
    })
    function toggle() { chosen.value = !open.value }
    return { t, id, thinking, open, label, toggle }
  },
  template: /*html*/ `
    <div class="thinking-block" :class="{ live: thinking, open }" data-testid="thinking" :data-state="thinking ? 'live' : 'done'">
      <button type="button" class="thinking-toggle" :aria-expanded="open ? 'true' : 'false'" :aria-controls="id" @click="toggle">
        <span class="thinking-label" data-testid="thinking-label">{{ label }}</span>
        <AppIcon name="chevronDown" :size="14" class="thinking-chevron" />
      </button>
      <div v-show="open" :id="id" class="thinking-body" data-testid="thinking-body">
        <MarkdownContent :message="message" field="reasoning" :live="thinking" />
      </div>
    </div>`,
}
