// Editing one of my questions in place: Save & send makes the text a new version of the question (the old one and
// its answers stay as the other version); Cancel or Esc leaves it. Enter is a new line here (nothing is sent by
// accident, an IME included).
import { ref, computed, onMounted, nextTick } from 'vue'
import { t } from '../i18n.js'
import { editQuestion } from '../chat.js'

export default {
  name: 'QuestionEditor',
  props: {
    message: { type: Object, required: true },
    busy: { type: Boolean, default: false },
    initial: { type: String, default: null }, // the text to start from (else the question's)
  },
  emits: ['close'],
  setup(props, { emit }) {
    const text = ref(props.initial ?? props.message.content ?? '')
    const textarea = ref(null)
    const sending = ref(false)
    const canSend = computed(() => !!text.value.trim() && !props.busy && !sending.value)
    function grow() {
      const element = textarea.value
      if (!element) return
      element.style.height = 'auto'
      element.style.height = `${Math.min(element.scrollHeight, 320)}px`
    }
    async function save() {
      if (!canSend.value) return
      sending.value = true
      try {
        if (await editQuestion(props.message, text.value)) emit('close')
      } finally {
        sending.value = false
      }
    }
    function onKeydown(event) {
      if (event.key === 'Escape') { event.preventDefault(); event.stopPropagation(); emit('close') }
    }
    onMounted(() => nextTick(() => {
      grow()
      const element = textarea.value
      if (element) { element.focus(); element.setSelectionRange(element.value.length, element.value.length) }
    }))
    return { t, text, textarea, canSend, grow, save, onKeydown }
  },
  template: /*html*/ `
    <div class="question-editor" data-testid="question-editor">
      <textarea ref="textarea" v-model="text" class="question-editor-input" data-testid="question-editor-input"
                :aria-label="t('chat.editQuestion')" @input="grow" @keydown="onKeydown"></textarea>
      <div class="question-editor-actions">
        <button type="button" class="btn btn-small" data-testid="edit-cancel" @click="$emit('close')">{{ t('common.cancel') }}</button>
        <button type="button" class="btn btn-small btn-primary" data-testid="edit-save" :disabled="!canSend" @click="save">{{ t('chat.saveAndSend') }}</button>
      </div>
    </div>`,
}
