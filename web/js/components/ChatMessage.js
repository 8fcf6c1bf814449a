// One message. The user's text is shown as plain text (pre-wrap) in a bubble; the assistant's as sanitised Markdown,
// with a cursor while it streams, the error + Retry when it failed, and Copy / Regenerate (with another model)
// actions. A reasoning model's thinking shows folded above the answer; the model that wrote it, discreetly below
// (tokens per second on hover). A question can be edited in place (the edit is a new version); any answer can be
// regenerated (a new version beside it); "‹ 2/3 ›" switches between the versions of either.
import { ref, computed } from 'vue'
import { t } from '../i18n.js'
import { copyText } from '../clipboard.js'
import { useModels } from '../useModels.js'
import { chat } from '../chat.js'
import { same } from '../answerStream.js'
import { usePopover } from '../usePopover.js'
import AppIcon from './AppIcon.js'
import MarkdownContent from './MarkdownContent.js'
import VersionSwitch from './VersionSwitch.js'
import { lazyPart } from '../lazy.js'

const ThinkingBlock = lazyPart(() => import('./ThinkingBlock.js'), { styles: false }) // with the first reasoning
const QuestionEditor = lazyPart(() => import('./QuestionEditor.js'), { styles: false }) // when a question is edited

/** "42.0 tokens/s · 12 prompt + 84 completion tokens" from a stored message, or '' when nothing is known. */
export function messageStats(message) {
  const parts = []
  const usage = message.usage
  const generating = (message.duration_ms ?? 0) - (message.first_token_ms ?? 0)
  if (usage?.completion_tokens != null && message.duration_ms != null && message.first_token_ms != null && generating > 0) {
    parts.push(t('chat.tokensPerSecond', { rate: (usage.completion_tokens / (generating / 1000)).toFixed(1) }))
  }
  if (usage) parts.push(t('chat.tokenCounts', { prompt: usage.prompt_tokens ?? '?', completion: usage.completion_tokens ?? '?' }))
  return parts.join(' · ')
}

export default {
  name: 'ChatMessage',
  components: { AppIcon, MarkdownContent, ThinkingBlock, VersionSwitch, QuestionEditor },
  props: {
    message: { type: Object, required: true },
    isLast: { type: Boolean, default: false },
    busy: { type: Boolean, default: false }, // a generation runs in this conversation
  },
  emits: ['regenerate'],
  setup(props, { emit }) {
    const copied = ref(false)
    // an edit refused before it started (busy, too long…) comes back open with its text
    const again = chat.editAgain && same(chat.editAgain.id, props.message.id) ? chat.editAgain : null
    if (again) chat.editAgain = null
    const editing = ref(!!again)
    const editText = again?.text ?? null
    const saved = computed(() => !String(props.message.id).startsWith('local-')) // has its server id
    const { groups: modelGroups, load: loadModels } = useModels()
    const regenButton = ref(null)
    const regenMenu = ref(null)
    const regen = usePopover(regenButton, regenMenu)
    function openRegenMenu() { loadModels(); regen.toggle() }
    function regenerateWith(model) { regen.close(false); emit('regenerate', model) }
    const hasReasoning = computed(() => !!props.message.reasoning)
    const stats = computed(() => messageStats(props.message))
    const hasContent = computed(() => !!props.message.content) // changes once, not on every delta
    const processing = computed(() => props.message.status === 'processing' && !props.message._orphan)
    const orphan = computed(() => props.message.status === 'processing' && !!props.message._orphan)
    const failed = computed(() => props.message.status === 'failed')
    const stopped = computed(() => props.message.status === 'stopped')
    async function copy() {
      if (await copyText(props.message.content || '')) {
        copied.value = true
        setTimeout(() => { copied.value = false }, 1500)
      }
    }
    return {
      t, copied, editing, editText, saved, hasContent, processing, orphan, failed, stopped, copy, hasReasoning, stats,
      modelGroups, regenButton, regenMenu, regen, openRegenMenu, regenerateWith,
    }
  },
  template: /*html*/ `
    <article v-if="message.role === 'user'" class="msg msg-user" :class="{ editing }" :data-status="message.status" :data-id="message.id">
      <QuestionEditor v-if="editing" :message="message" :busy="busy" :initial="editText" @close="editing = false" />
      <template v-else>
        <div class="msg-user-row">
          <div class="msg-actions">
            <button type="button" class="icon-btn tiny" :aria-label="copied ? t('chat.copied') : t('chat.copyMessage')" :title="t('chat.copyMessage')" @click="copy">
              <AppIcon :name="copied ? 'check' : 'copy'" :size="15" />
            </button>
            <button v-if="saved" type="button" class="icon-btn tiny" data-testid="edit-question" :disabled="busy"
                    :aria-label="t('chat.editQuestion')" :title="t('chat.editQuestion')" @click="editing = true">
              <AppIcon name="pencil" :size="15" />
            </button>
          </div>
          <div class="bubble">{{ message.content }}</div>
        </div>
        <VersionSwitch :message="message" :busy="busy" />
      </template>
    </article>
    <article v-else class="msg msg-assistant" :class="{ 'is-last': isLast }" :data-status="message.status" :data-id="message.id" :aria-busy="processing ? 'true' : 'false'">
      <div class="msg-avatar" aria-hidden="true"><AppIcon name="logo" :size="16" /></div>
      <div class="msg-body">
        <ThinkingBlock v-if="hasReasoning" :message="message" />
        <MarkdownContent v-if="hasContent" :message="message" />
        <div v-else-if="processing && !hasReasoning" class="thinking" role="status" :aria-label="t('chat.thinking')"><span></span><span></span><span></span></div>
        <div v-if="failed || orphan" class="msg-error" role="alert">
          <AppIcon name="alert" :size="16" />
          <span class="msg-error-text"><strong>{{ t('chat.failed') }}:</strong> {{ orphan ? t('chat.interrupted') : message.error || '—' }}</span>
          <button v-if="saved" type="button" class="btn btn-small" data-testid="retry" :disabled="busy" @click="$emit('regenerate')">
            <AppIcon name="refresh" :size="14" />{{ t('common.retry') }}
          </button>
        </div>
        <div v-if="stopped" class="msg-note">{{ t('chat.stopped') }}</div>
        <div v-if="!processing" class="msg-foot">
        <VersionSwitch :message="message" :busy="busy" />
        <div class="msg-actions">
          <button v-if="hasContent" type="button" class="icon-btn tiny" data-testid="copy-message"
                  :aria-label="copied ? t('chat.copied') : t('chat.copyMessage')" :title="t('chat.copyMessage')" @click="copy">
            <AppIcon :name="copied ? 'check' : 'copy'" :size="15" />
          </button>
          <button v-if="saved && !failed && !orphan" type="button" class="icon-btn tiny" data-testid="regenerate" :disabled="busy"
                  :aria-label="t('chat.regenerate')" :title="t('chat.regenerate')" @click="$emit('regenerate')">
            <AppIcon name="refresh" :size="15" />
          </button>
          <span v-if="saved" class="popover-anchor">
            <button ref="regenButton" type="button" class="icon-btn tiny" data-testid="regenerate-with" :disabled="busy"
                    aria-haspopup="menu" :aria-expanded="regen.open.value ? 'true' : 'false'"
                    :aria-label="t('chat.regenerateWith')" :title="t('chat.regenerateWith')" @click="openRegenMenu">
              <AppIcon name="more" :size="15" />
            </button>
            <div v-if="regen.open.value" ref="regenMenu" class="popover-menu" :style="regen.place.value" role="menu" data-testid="regenerate-menu"
                 :aria-label="t('chat.regenerateWith')" @keydown="regen.onKeydown">
              <p class="popover-title">{{ t('chat.regenerateWith') }}</p>
              <template v-for="group in modelGroups" :key="group.connection">
                <p class="popover-group">{{ group.connection }}</p>
                <button v-for="model in group.models" :key="model.id" type="button" role="menuitem" class="menu-item"
                        data-testid="regenerate-model" :data-model="model.id" @click="regenerateWith(model.id)">
                  <span class="menu-item-text">{{ model.name }}</span>
                  <AppIcon v-if="model.id === message.model" name="check" :size="14" />
                </button>
              </template>
              <p v-if="!modelGroups.length" class="popover-empty">{{ t('chat.noModels') }}</p>
            </div>
          </span>
        </div>
        <span v-if="message.model" class="msg-model" data-testid="message-model" :title="stats || message.model">{{ message.model }}</span>
        </div>
      </div>
    </article>`,
}
