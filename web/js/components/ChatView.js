// The chat column: header, demo banner, messages (with auto-scroll that lets go when the user scrolls up, and
// long histories mounted a page at a time from the bottom), and the composer.
import { ref, computed, watch, nextTick, onMounted, onBeforeUnmount } from 'vue'
import { store, toast } from '../store.js'
import { t } from '../i18n.js'
import { navigate } from '../router.js'
import { chat, regenerate, openConversation, setDraft, isGenerating, exportMarkdown as downloadMarkdown } from '../chat.js'
import { openDrawer } from '../conversations.js'
import { preloadFor } from '../markdown/libraries.js'
import { errorText, isUnauthorized } from '../errors.js'
import AppIcon from './AppIcon.js'
import ChatMessage from './ChatMessage.js'
import ChatComposer from './ChatComposer.js'
import DemoBanner from './DemoBanner.js'
import ModelPicker from './ModelPicker.js'
import { usePresets } from '../useModels.js'
import { lazyPart } from '../lazy.js'

// Loaded when first shown: the settings panel when opened, the preset list once the user has presets.
const ChatSettings = lazyPart(() => import('./ChatSettings.js'))
const PresetList = lazyPart(() => import('./PresetList.js'))

const PAGE = 24 // messages mounted at a time (more are mounted as the user scrolls up)

export default {
  name: 'ChatView',
  components: { AppIcon, ChatMessage, ChatComposer, DemoBanner, ModelPicker, ChatSettings, PresetList },
  setup() {
    const scroller = ref(null)
    const content = ref(null)
    const topSentinel = ref(null)
    const composer = ref(null)
    const stick = ref(true) // follow the end of the conversation
    const shownCount = ref(PAGE)
    let lastTop = 0
    let resizeObs = null
    let topObs = null

    const blank = computed(() => chat.id == null)
    const title = computed(() => chat.conversation?.title || (blank.value ? '' : t('conv.untitled')))
    const busy = computed(() => isGenerating())
    const hiddenCount = computed(() => Math.max(0, chat.messages.length - shownCount.value))
    const shown = computed(() => (hiddenCount.value ? chat.messages.slice(hiddenCount.value) : chat.messages))
    const lastAssistant = computed(() => {
      const last = chat.messages.at(-1)
      return last?.role === 'assistant' ? last : null
    })
    const suggestions = computed(() => [1, 2, 3, 4].map((n) => t(`chat.suggest${n}`)))

    function toBottom() {
      const el = scroller.value
      if (el) { el.scrollTop = el.scrollHeight; lastTop = el.scrollTop }
    }
    function onScroll() {
      const el = scroller.value
      if (!el) return
      const fromBottom = el.scrollHeight - el.scrollTop - el.clientHeight
      if (el.scrollTop < lastTop - 2 && fromBottom > 4) stick.value = false // the user scrolled up
      else if (fromBottom < 40) stick.value = true //                           back at the end
      lastTop = el.scrollTop
    }
    function onWheel(event) { if (event.deltaY < 0) stick.value = false }
    function jumpDown() { stick.value = true; toBottom() }

    // New conversation opened: mount the last page, stick to the bottom.
    watch(() => chat.id, () => {
      shownCount.value = PAGE
      stick.value = true
      nextTick(toBottom)
    })
    watch(() => chat.loading, (l) => { if (!l) { stick.value = true; nextTick(toBottom) } })
    // The user sent something: follow again.
    watch(() => chat.messages.length, (n, o) => { if (n > o) { stick.value = true; nextTick(toBottom) } })
    // Start loading highlight.js / KaTeX as soon as a streamed answer shows it needs them.
    watch(() => chat.messages.at(-1)?.content, (c) => { if (c && busy.value) preloadFor(c) })

    function loadOlder() {
      const el = scroller.value
      if (!el || !hiddenCount.value) return
      const fromEnd = el.scrollHeight - el.scrollTop
      shownCount.value += PAGE
      nextTick(() => { el.scrollTop = el.scrollHeight - fromEnd; lastTop = el.scrollTop })
    }

    const settingsOpen = ref(false)
    const { presets, load: loadPresets } = usePresets()
    const exporting = ref(false)
    async function exportMarkdown() {
      if (chat.id == null || exporting.value) return
      exporting.value = true
      try {
        await downloadMarkdown()
      } catch (error) {
        if (!isUnauthorized(error)) toast(errorText(error, { 404: 'conv.notFound' }), 'error')
      } finally {
        exporting.value = false
      }
    }

    function useSuggestion(text) {
      setDraft(text, { save: false })
      nextTick(() => composer.value?.focus())
    }

    onMounted(() => {
      resizeObs = new ResizeObserver(() => { if (stick.value) toBottom() })
      if (content.value) resizeObs.observe(content.value)
      topObs = new IntersectionObserver((entries) => {
        if (entries.some((e) => e.isIntersecting)) loadOlder()
      }, { root: scroller.value, rootMargin: '300px 0px 0px 0px' })
      watch(topSentinel, (el, old) => { if (old) topObs.unobserve(old); if (el) topObs.observe(el) }, { immediate: true })
      toBottom()
      loadPresets()
    })
    onBeforeUnmount(() => { resizeObs?.disconnect(); topObs?.disconnect() })

    return {
      store, chat, t, scroller, content, topSentinel, composer, stick, blank, title, busy, shown, hiddenCount,
      lastAssistant, suggestions, exporting, settingsOpen, presets, exportMarkdown, onScroll, onWheel, jumpDown, regenerate, useSuggestion,
      reload: () => openConversation(chat.id, { force: true }),
      openDrawer,
      newChat: () => navigate('/'),
    }
  },
  template: /*html*/ `
    <section class="chat" :class="{ 'chat-blank': blank }">
      <header class="chat-header">
        <button type="button" class="icon-btn menu-btn" :aria-label="t('sidebar.open')" data-testid="open-drawer" @click="openDrawer">
          <AppIcon name="menu" />
        </button>
        <ModelPicker v-if="!chat.notFound" />
        <h1 class="chat-title" :title="title">{{ title }}</h1>
        <button v-if="!chat.notFound && !chat.loading" type="button" class="icon-btn" data-testid="chat-settings-open"
                :aria-label="t('chat.settingsTitle')" :title="t('chat.settingsTitle')" @click="settingsOpen = true">
          <AppIcon name="settings" />
        </button>
        <button v-if="chat.conversation && !chat.notFound" type="button" class="icon-btn" data-testid="export-markdown"
                :aria-label="t('chat.exportMarkdown')" :title="t('chat.exportMarkdown')" :disabled="exporting" @click="exportMarkdown">
          <AppIcon name="download" />
        </button>
        <button type="button" class="icon-btn header-new" :aria-label="t('sidebar.newChat')" :title="t('sidebar.newChat')" @click="newChat">
          <AppIcon name="edit" />
        </button>
      </header>
      <DemoBanner />
      <div ref="scroller" class="chat-scroll" @scroll.passive="onScroll" @wheel.passive="onWheel">
        <div ref="content" class="chat-content">
          <div v-if="blank && !chat.messages.length" class="empty-state">
            <span class="brand-mark large"><AppIcon name="logo" :size="30" /></span>
            <h2>{{ t('chat.greeting') }}</h2>
            <div class="suggestions">
              <button v-for="suggestion in suggestions" :key="suggestion" type="button" class="suggestion" @click="useSuggestion(suggestion)">{{ suggestion }}</button>
            </div>
            <PresetList v-if="presets.length" />
          </div>
          <div v-else-if="chat.notFound" class="center-note">
            <p>{{ t('conv.notFound') }}</p>
            <a href="/" data-link class="btn btn-primary">{{ t('sidebar.newChat') }}</a>
          </div>
          <div v-else-if="chat.loadError" class="center-note">
            <p>{{ t('conv.loadFailed', { error: chat.loadError }) }}</p>
            <button type="button" class="btn" @click="reload">{{ t('common.retry') }}</button>
          </div>
          <div v-else-if="chat.loading" class="center-note"><span class="spinner"></span></div>
          <div v-else class="messages" data-testid="messages">
            <div v-if="hiddenCount" ref="topSentinel" class="older-sentinel">{{ t('chat.loadingOlder') }}</div>
            <ChatMessage v-for="message in shown" :key="message._key || message.id" :message="message" :busy="busy"
                         :is-last="message === lastAssistant" @regenerate="(model) => regenerate(message, model)" />
          </div>
        </div>
      </div>
      <button v-if="!stick && !blank" type="button" class="scroll-down" :aria-label="t('chat.scrollDown')" @click="jumpDown">
        <AppIcon name="arrowDown" :size="18" />
      </button>
      <ChatComposer ref="composer" />
      <ChatSettings v-if="settingsOpen" @close="settingsOpen = false" />
    </section>`,
}
