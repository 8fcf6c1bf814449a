// One message. The user's text is shown as plain text (pre-wrap) in a bubble; the assistant's as sanitised Markdown,
// with a cursor while it streams, the error + Retry when it failed, and Copy / Regenerate actions.
import { ref, computed } from 'vue'
import { t } from '../i18n.js'
import { copyText } from '../clipboard.js'
import AppIcon from './AppIcon.js'
import MarkdownContent from './MarkdownContent.js'

export default {
  name: 'ChatMessage',
  components: { AppIcon, MarkdownContent },
  props: {
    message: { type: Object, required: true },
    isLast: { type: Boolean, default: false },
    busy: { type: Boolean, default: false }, // a generation runs in this conversation
  },
  emits: ['regenerate'],
  setup(props) {
    const copied = ref(false)
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
    return { t, copied, hasContent, processing, orphan, failed, stopped, copy }
  },
  template: /*html*/ `
    <article v-if="message.role === 'user'" class="msg msg-user" :data-status="message.status">
      <div class="msg-actions">
        <button type="button" class="icon-btn tiny" :aria-label="copied ? t('chat.copied') : t('chat.copyMessage')" :title="t('chat.copyMessage')" @click="copy">
          <AppIcon :name="copied ? 'check' : 'copy'" :size="15" />
        </button>
      </div>
      <div class="bubble">{{ message.content }}</div>
    </article>
    <article v-else class="msg msg-assistant" :class="{ 'is-last': isLast }" :data-status="message.status" :aria-busy="processing ? 'true' : 'false'">
      <div class="msg-avatar" aria-hidden="true"><AppIcon name="logo" :size="16" /></div>
      <div class="msg-body">
        <MarkdownContent v-if="hasContent" :message="message" />
        <div v-else-if="processing" class="thinking" role="status" :aria-label="t('chat.thinking')"><span></span><span></span><span></span></div>
        <div v-if="failed || orphan" class="msg-error" role="alert">
          <AppIcon name="alert" :size="16" />
          <span class="msg-error-text"><strong>{{ t('chat.failed') }}:</strong> {{ orphan ? t('chat.interrupted') : message.error || '—' }}</span>
          <button v-if="isLast" type="button" class="btn btn-small" data-testid="retry" :disabled="busy" @click="$emit('regenerate')">
            <AppIcon name="refresh" :size="14" />{{ t('common.retry') }}
          </button>
        </div>
        <div v-if="stopped" class="msg-note">{{ t('chat.stopped') }}</div>
        <div v-if="!processing" class="msg-actions">
          <button v-if="hasContent" type="button" class="icon-btn tiny" data-testid="copy-message"
                  :aria-label="copied ? t('chat.copied') : t('chat.copyMessage')" :title="t('chat.copyMessage')" @click="copy">
            <AppIcon :name="copied ? 'check' : 'copy'" :size="15" />
          </button>
          <button v-if="isLast && !failed && !orphan" type="button" class="icon-btn tiny" data-testid="regenerate" :disabled="busy"
                  :aria-label="t('chat.regenerate')" :title="t('chat.regenerate')" @click="$emit('regenerate')">
            <AppIcon name="refresh" :size="15" />
          </button>
        </div>
      </div>
    </article>`,
}
