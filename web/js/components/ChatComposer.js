// The composer: auto-growing textarea; Enter sends, Shift+Enter is a new line, and nothing is sent while an IME
// is composing (event.isComposing, keyCode 229, compositionstart/end). The text is kept per conversation in
// sessionStorage, so a reload or a re-login does not lose it. While an answer is written the button stops it.
import { ref, computed, watch, nextTick, onMounted } from 'vue'
import { t } from '../i18n.js'
import { chat, send, stop, setDraft, isGenerating } from '../chat.js'
import AppIcon from './AppIcon.js'

export default {
  name: 'ChatComposer',
  components: { AppIcon },
  setup(_, { expose }) {
    const textarea = ref(null)
    const composing = ref(false)

    const busy = computed(() => isGenerating())
    const canSend = computed(() => !busy.value && chat.draft.trim().length > 0 && !chat.loading && !chat.notFound)

    function resize() {
      const element = textarea.value
      if (!element) return
      element.style.height = 'auto'
      element.style.height = `${Math.min(element.scrollHeight, 240)}px`
    }
    watch(() => chat.draft, () => nextTick(resize))

    function onInput(event) {
      setDraft(event.target.value)
    }

    async function submit() {
      if (!canSend.value || composing.value) return
      await send(chat.draft)
      nextTick(() => textarea.value?.focus())
    }

    function onKeydown(event) {
      if (event.key !== 'Enter' || event.shiftKey || event.altKey) return
      // IME: the Enter that confirms a candidate must not send (Safari reports keyCode 229 after compositionend)
      if (event.isComposing || event.keyCode === 229 || composing.value) return
      event.preventDefault()
      submit()
    }

    function focus() { textarea.value?.focus() }
    expose({ focus })
    onMounted(() => {
      resize()
      if (window.matchMedia?.('(min-width: 769px)').matches) focus()
    })

    return { t, chat, textarea, busy, canSend, composing, onInput, onKeydown, submit, stop }
  },
  template: /*html*/ `
    <form class="composer" @submit.prevent="submit">
      <p v-if="chat.sendError" class="composer-error" role="alert">{{ chat.sendError }}</p>
      <div class="composer-box">
        <textarea ref="textarea" class="composer-input" rows="1" :value="chat.draft" :placeholder="t('chat.placeholder')"
                  :aria-label="t('chat.placeholder')" data-testid="composer"
                  @input="onInput" @keydown="onKeydown"
                  @compositionstart="composing = true" @compositionend="composing = false"></textarea>
        <button v-if="busy" type="button" class="send-btn stop" data-testid="stop" :aria-label="t('chat.stop')" :title="t('chat.stop') + ' (Esc)'"
                :disabled="chat.stopping" @click="stop">
          <AppIcon name="stop" :size="18" />
        </button>
        <button v-else type="submit" class="send-btn" data-testid="send" :aria-label="t('chat.send')" :title="t('chat.send')" :disabled="!canSend">
          <AppIcon name="arrowUp" :size="18" />
        </button>
      </div>
      <p class="composer-hint">{{ t('chat.hint') }}</p>
    </form>`,
}
