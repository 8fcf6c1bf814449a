// An assistant answer as Markdown. While streaming: updates are batched to one per animation frame and only the
// unfinished last block is re-rendered (finished ones are kept); when the stream ends: one full render.
// Code-block Copy buttons are handled here by event delegation (the rendered HTML carries no handlers).
import { shallowRef, ref, computed, watch, nextTick, onBeforeUnmount } from 'vue'
import { renderBlocks, renderMessage } from '../markdown/render.js'
import { createStreamRenderer } from '../markdown/streamRenderer.js'
import { libsVersion } from '../markdown/libraries.js'
import { perf } from '../markdown/perf.js'
import { copyText } from '../clipboard.js'
import { patchTail } from '../markdown/domMorph.js'
import { t } from '../i18n.js'
import MarkdownBlocks from './MarkdownBlocks.js'

const GROUP = 32

export default {
  name: 'MarkdownContent',
  components: { MarkdownBlocks },
  // The message object itself, not its text: a streamed delta then wakes only this component's watcher (which
  // batches to one render per frame) instead of re-rendering the parent message on every delta.
  // `field`: which text of the message ('content', or 'reasoning' for the thinking block); `live`: whether that text
  // is still growing (by default: while the message is being written).
  props: {
    message: { type: Object, required: true },
    field: { type: String, default: 'content' },
    live: { default: null },
  },
  setup(props) {
    const text = () => props.message[props.field] || ''
    const streaming = computed(() => props.live ?? (props.message.status === 'processing' && !props.message._orphan))
    const groups = shallowRef([]) //    the finished blocks, in groups of GROUP (see toGroups)
    const tailEl = ref(null) //          the unfinished last block while streaming: its (sanitised) HTML is set
    let tailHtml = '' //                 directly, so a frame that only grows it costs no component re-render
    let renderer = null
    let raf = 0
    let rendered = false //              this message was streamed here (then it ends with a per-block full render)

    // A new finished block re-renders only the last group, not a list of hundreds of blocks.
    function toGroups(list) {
      const old = groups.value
      const out = []
      for (let start = 0; start < list.length; start += GROUP) {
        const end = Math.min(list.length, start + GROUP)
        const prev = old[out.length]
        out.push(prev && prev.length === end - start && prev[0] === list[start] && prev[prev.length - 1] === list[end - 1]
          ? prev : list.slice(start, end))
      }
      return out
    }
    let lastCommitted = null

    function frame() {
      raf = 0
      if (!renderer) return
      const t0 = performance.now()
      const update = renderer.update(text())
      const t1 = performance.now()
      if (lastCommitted !== update.committed) { lastCommitted = update.committed; groups.value = toGroups(update.committed) }
      if (update.tail !== tailHtml && tailEl.value) { tailHtml = update.tail; patchTail(tailEl.value, update.tail) }
      const t2 = performance.now()
      const length = text().length
      const count = update.committed.length
      // ms: the whole update (render + sanitise + DOM, including Vue's patch when a block was finished)
      nextTick(() => perf.record('updates', { ms: performance.now() - t0, renderMs: t1 - t0, domMs: t2 - t1, length, blocks: count }))
    }

    function full() {
      if (raf) { cancelAnimationFrame(raf); raf = 0 }
      const wasStreaming = !!renderer
      renderer = null
      lastCommitted = null
      const t0 = performance.now()
      // streamed here: block by block through the cache, so the DOM of unchanged blocks is kept;
      // from the history: the whole message in one pass
      groups.value = toGroups(rendered ? renderBlocks(text()) : renderMessage(text()))
      tailHtml = ''
      if (wasStreaming) {
        const length = text().length
        nextTick(() => perf.record('finals', { ms: performance.now() - t0, length }))
      }
    }

    watch(
      () => [text(), streaming.value, libsVersion.value],
      () => {
        if (streaming.value) {
          if (!renderer) { renderer = createStreamRenderer(); groups.value = []; lastCommitted = null; rendered = true }
          if (!raf) raf = requestAnimationFrame(frame)
        } else full()
      },
      { immediate: true },
    )
    onBeforeUnmount(() => { if (raf) cancelAnimationFrame(raf) })

    async function onClick(event) {
      const btn = event.target.closest?.('[data-copy-code]')
      if (!btn) return
      const code = btn.closest('.code-block')?.querySelector('pre code')
      if (!code) return
      const ok = await copyText(code.textContent)
      if (!ok) return
      btn.textContent = t('chat.copied')
      btn.classList.add('copied')
      setTimeout(() => { btn.textContent = t('chat.copy'); btn.classList.remove('copied') }, 1500)
    }

    return { groups, tailEl, streaming, onClick }
  },
  template: /*html*/ `
    <div class="md" :class="{ streaming }" @click="onClick">
      <MarkdownBlocks v-for="(group, index) in groups" :key="index" :blocks="group" />
      <div v-if="streaming" ref="tailEl" class="md-block md-tail"></div>
    </div>`,
}
