// Entry point: theme and language first (no flash), then the router, the app, and the session check.
import { createApp } from 'vue'
import App from './components/App.js'
import { store } from './store.js'
import { installRouter } from './router.js'
import { initI18n } from './i18n.js'
import { initTheme } from './theme.js'
import { bootAuth } from './auth.js'

initTheme()
initI18n()
installRouter()

const app = createApp(App)
app.config.errorHandler = (err, _vm, info) => console.error('[chatbox]', info, err)
app.mount('#app')

bootAuth().finally(() => { store.booted = true })
