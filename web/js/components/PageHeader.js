// The header of a settings page (account, admin): the phone's drawer button, the page title, a way back to chat.
import { t } from '../i18n.js'
import { openDrawer } from '../conversations.js'
import AppIcon from './AppIcon.js'

export default {
  name: 'PageHeader',
  components: { AppIcon },
  props: { title: { type: String, required: true } },
  setup() {
    return { t, openDrawer }
  },
  template: /*html*/ `
    <header class="chat-header page-header">
      <button type="button" class="icon-btn menu-btn" :aria-label="t('sidebar.open')" data-testid="open-drawer" @click="openDrawer">
        <AppIcon name="menu" />
      </button>
      <h1 class="chat-title">{{ title }}</h1>
      <a href="/" data-link class="btn btn-small page-back"><AppIcon name="arrowLeft" :size="15" />{{ t('page.backToChat') }}</a>
    </header>`,
}
