// Finished blocks of sanitised HTML (from markdown/render.js, which runs everything through DOMPurify).
// Its own component so a streaming answer's growing tail does not re-render the finished part.
export default {
  name: 'MarkdownBlocks',
  props: { blocks: { type: Array, required: true } },
  template: /*html*/ `<div v-for="block in blocks" :key="block.key" class="md-block" v-html="block.html"></div>`,
}
