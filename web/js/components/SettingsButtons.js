// Theme (system → dark → light) and language switches, used in the sidebar footer and on the login page.
import { computed } from 'vue'
import { store } from '../store.js'
import { t, setLocale, LOCALES } from '../i18n.js'
import { cycleTheme } from '../theme.js'
import AppIcon from './AppIcon.js'

export default {
  name: 'SettingsButtons',
  components: { AppIcon },
  setup() {
    const themeIcon = computed(() => ({ system: 'monitor', dark: 'moon', light: 'sun' })[store.theme])
    const themeLabel = computed(() => t({ system: 'settings.themeSystem', dark: 'settings.themeDark', light: 'settings.themeLight' }[store.theme]))
    const locale = computed({ get: () => store.locale, set: (code) => setLocale(code) })
    return { t, cycleTheme, themeIcon, themeLabel, locale, LOCALES }
  },
  template: /*html*/ `
    <div class="settings-buttons">
      <button type="button" class="icon-btn" :aria-label="themeLabel" :title="themeLabel" data-testid="theme-toggle" @click="cycleTheme">
        <AppIcon :name="themeIcon" />
      </button>
      <label class="lang-select" :title="t('settings.language')">
        <AppIcon name="globe" :size="16" />
        <select v-model="locale" :aria-label="t('settings.language')" data-testid="language">
          <option v-for="option in LOCALES" :key="option.code" :value="option.code">{{ option.label }}</option>
        </select>
      </label>
    </div>`,
}
