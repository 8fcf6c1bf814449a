// An assistant answer as Markdown. While streaming: updates are batched to one per animation frame and only the
// unfinished last block is re-rendered (finished ones are kept); when the stream ends: one full render.
// Code-block Copy buttons are handled here by event delegation (the rendered HTML carries no handlers).
import { shallowRef, ref, watch, nextTick, onBeforeUnmount } from 'vue'
import { createStreamRenderer, renderBlocks, libsVersion, perf } from '../markdown.js'
import { copyText } from '../clipboard.js'
import { t } from '../useI18n.js'
import MarkdownBlocks from './MarkdownBlocks.js'

export default {
  name: 'MarkdownContent',
  components: { MarkdownBlocks },
  props: { text: { type: String, default: '' }, streaming: { type: Boolean, default: false } },
  setup(props) {
    const blocks = shallowRef([]) //    finished message, or the finished blocks of a streaming one
    const tail = ref('') //              the unfinished last block while streaming
    let renderer = null
    let raf = 0

    function frame() {
      raf = 0
      if (!renderer) return
      const t0 = performance.now()
      const r = renderer.update(props.text)
      const t1 = performance.now()
      if (blocks.value !== r.committed) blocks.value = r.committed
      tail.value = r.tail
      const length = props.text.length
      nextTick(() => perf.record('updates', { ms: performance.now() - t0, renderMs: t1 - t0, length }))
    }

    function full() {
      if (raf) { cancelAnimationFrame(raf); raf = 0 }
      const wasStreaming = !!renderer
      renderer = null
      const t0 = performance.now()
      blocks.value = renderBlocks(props.text)
      tail.value = ''
      if (wasStreaming) {
        const length = props.text.length
        nextTick(() => perf.record('finals', { ms: performance.now() - t0, length }))
      }
    }

    watch(
      () => [props.text, props.streaming, libsVersion.value],
      () => {
        if (props.streaming) {
          if (!renderer) { renderer = createStreamRenderer(); blocks.value = [] }
          if (!raf) raf = requestAnimationFrame(frame)
        } else full()
      },
      { immediate: true },
    )
    onBeforeUnmount(() => { if (raf) cancelAnimationFrame(raf) })

    async function onClick(e) {
      const btn = e.target.closest?.('[data-copy-code]')
      if (!btn) return
      const code = btn.closest('.code-block')?.querySelector('pre code')
      if (!code) return
      const ok = await copyText(code.textContent)
      if (!ok) return
      btn.textContent = t('chat.copied')
      btn.classList.add('copied')
      setTimeout(() => { btn.textContent = t('chat.copy'); btn.classList.remove('copied') }, 1500)
    }

    return { blocks, tail, onClick }
  },
  template: /*html*/ `
    <div class="md" :class="{ streaming }" @click="onClick">
      <MarkdownBlocks :blocks="blocks" />
      <div v-if="streaming" class="md-block md-tail" v-html="tail"></div>
    </div>`,
}
