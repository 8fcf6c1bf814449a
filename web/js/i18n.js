// Chinese and English. Follows navigator.language until the user picks one (kept in localStorage).
import { store } from './store.js'

const KEY = 'chatbox.locale'
export const LOCALES = [{ code: 'en', label: 'English' }, { code: 'zh-CN', label: '简体中文' }]

const en = {
  appName: 'Chatbox',
  'auth.login': 'Log in',
  'auth.register': 'Sign up',
  'auth.welcome': 'Welcome back',
  'auth.createAccount': 'Create your account',
  'auth.username': 'Username',
  'auth.password': 'Password',
  'auth.submitLogin': 'Log in',
  'auth.submitRegister': 'Create account',
  'auth.noAccount': "Don't have an account?",
  'auth.haveAccount': 'Already have an account?',
  'auth.wrongCredentials': 'Wrong username or password.',
  'auth.nameTaken': 'That username is already taken.',
  'auth.registrationClosed': 'Registration is closed on this server. Ask its administrator for an account.',
  'auth.throttled': 'Too many attempts. Please wait {seconds} s and try again.',
  'auth.throttledNoWait': 'Too many attempts. Please wait a little and try again.',
  'auth.sessionExpired': 'Your session has expired. Please log in again — your unsent text is kept.',
  'auth.working': 'Please wait…',
  'auth.tagline': 'Your own private AI chat.',
  'auth.logout': 'Log out',
  'sidebar.newChat': 'New chat',
  'sidebar.search': 'Search chats',
  'sidebar.today': 'Today',
  'sidebar.yesterday': 'Yesterday',
  'sidebar.previous7': 'Previous 7 days',
  'sidebar.older': 'Older',
  'sidebar.empty': 'No chats yet.',
  'sidebar.noResults': 'No chats match “{q}”.',
  'sidebar.rename': 'Rename',
  'sidebar.delete': 'Delete',
  'sidebar.loadMore': 'Loading more…',
  'sidebar.loadFailed': 'Could not load your chats.',
  'sidebar.retry': 'Retry',
  'sidebar.open': 'Open sidebar',
  'sidebar.close': 'Close sidebar',
  'sidebar.conversations': 'Chats',
  'conv.untitled': 'New chat',
  'conv.deleteTitle': 'Delete chat?',
  'conv.deleteBody': 'This will delete “{title}” and all its messages. This cannot be undone.',
  'conv.renameLabel': 'Chat title',
  'conv.notFound': 'This chat does not exist, or it is not yours.',
  'conv.loadFailed': 'Could not load this chat: {error}',
  'common.cancel': 'Cancel',
  'common.delete': 'Delete',
  'common.close': 'Close',
  'common.retry': 'Retry',
  'chat.greeting': 'How can I help you today?',
  'chat.placeholder': 'Message Chatbox',
  'chat.send': 'Send message',
  'chat.stop': 'Stop generating',
  'chat.regenerate': 'Regenerate',
  'chat.copy': 'Copy',
  'chat.copied': 'Copied',
  'chat.copyMessage': 'Copy message',
  'chat.copyCode': 'Copy code',
  'chat.you': 'You',
  'chat.assistant': 'Assistant',
  'chat.failed': 'The answer failed',
  'chat.stopped': 'Stopped',
  'chat.interrupted': 'this answer is no longer being written (it was interrupted).',
  'chat.thinking': 'Thinking…',
  'chat.scrollDown': 'Scroll to the latest message',
  'chat.hint': 'Enter to send · Shift+Enter for a new line',
  'chat.busy': 'An answer is still being written in this chat. Wait for it or stop it.',
  'chat.tooLong': 'The message is too long.',
  'chat.empty': 'The message is empty.',
  'chat.sendFailed': 'Could not send: {error}',
  'chat.networkLost': 'The connection was lost. Reconnecting…',
  'chat.loadingOlder': 'Loading earlier messages…',
  'chat.suggest1': 'Explain a binary search with a code example',
  'chat.suggest2': 'Write a short poem about the sea',
  'chat.suggest3': 'What is the derivative of x² · sin x?',
  'chat.suggest4': 'Compare SQLite and MySQL in a table',
  'demo.title': 'Demo model.',
  'demo.body': 'You are chatting with the built-in demo model: its answers are canned examples. To use a real model, set CHATBOX_LLM_BASE_URL, CHATBOX_LLM_MODEL and CHATBOX_LLM_API_KEY (any OpenAI-compatible API such as OpenAI, DeepSeek, Qwen or a local Ollama), or CHATBOX_LLM_COMMAND for your own program, and restart the server.',
  'demo.dismiss': 'Hide this notice',
  'settings.theme': 'Theme',
  'settings.themeSystem': 'Theme: system',
  'settings.themeLight': 'Theme: light',
  'settings.themeDark': 'Theme: dark',
  'settings.language': 'Language',
  'notfound.title': 'Page not found',
  'notfound.back': 'Back to chat',
  'error.network': 'The server cannot be reached.',
  'chat.exportMarkdown': 'Export as Markdown',
  'error.server': 'The server had a problem: {error}',
  'admin.title': 'Admin',
  'account.title': 'Account',
  'account.menu': 'Account and administration',
}

const zh = {
  appName: 'Chatbox',
  'auth.login': '登录',
  'auth.register': '注册',
  'auth.welcome': '欢迎回来',
  'auth.createAccount': '创建账号',
  'auth.username': '用户名',
  'auth.password': '密码',
  'auth.submitLogin': '登录',
  'auth.submitRegister': '创建账号',
  'auth.noAccount': '还没有账号？',
  'auth.haveAccount': '已有账号？',
  'auth.wrongCredentials': '用户名或密码错误。',
  'auth.nameTaken': '该用户名已被占用。',
  'auth.registrationClosed': '此服务器已关闭注册，请联系管理员获取账号。',
  'auth.throttled': '尝试次数过多，请等待 {seconds} 秒后再试。',
  'auth.throttledNoWait': '尝试次数过多，请稍后再试。',
  'auth.sessionExpired': '登录已过期，请重新登录——未发送的文字已为你保留。',
  'auth.working': '请稍候…',
  'auth.tagline': '属于你自己的私有 AI 聊天。',
  'auth.logout': '退出登录',
  'sidebar.newChat': '新对话',
  'sidebar.search': '搜索对话',
  'sidebar.today': '今天',
  'sidebar.yesterday': '昨天',
  'sidebar.previous7': '过去 7 天',
  'sidebar.older': '更早',
  'sidebar.empty': '还没有对话。',
  'sidebar.noResults': '没有与“{q}”匹配的对话。',
  'sidebar.rename': '重命名',
  'sidebar.delete': '删除',
  'sidebar.loadMore': '正在加载…',
  'sidebar.loadFailed': '无法加载对话列表。',
  'sidebar.retry': '重试',
  'sidebar.open': '打开侧边栏',
  'sidebar.close': '关闭侧边栏',
  'sidebar.conversations': '对话',
  'conv.untitled': '新对话',
  'conv.deleteTitle': '删除对话？',
  'conv.deleteBody': '将删除“{title}”及其全部消息，且无法恢复。',
  'conv.renameLabel': '对话标题',
  'conv.notFound': '该对话不存在，或不属于你。',
  'conv.loadFailed': '无法加载此对话：{error}',
  'common.cancel': '取消',
  'common.delete': '删除',
  'common.close': '关闭',
  'common.retry': '重试',
  'chat.greeting': '今天有什么可以帮你？',
  'chat.placeholder': '给 Chatbox 发送消息',
  'chat.send': '发送消息',
  'chat.stop': '停止生成',
  'chat.regenerate': '重新生成',
  'chat.copy': '复制',
  'chat.copied': '已复制',
  'chat.copyMessage': '复制消息',
  'chat.copyCode': '复制代码',
  'chat.you': '你',
  'chat.assistant': '助手',
  'chat.failed': '回答失败',
  'chat.stopped': '已停止',
  'chat.interrupted': '这条回答已不再生成（被中断了）。',
  'chat.thinking': '思考中…',
  'chat.scrollDown': '滚动到最新消息',
  'chat.hint': 'Enter 发送 · Shift+Enter 换行',
  'chat.busy': '此对话中仍有回答正在生成，请等待或先停止。',
  'chat.tooLong': '消息太长了。',
  'chat.empty': '消息不能为空。',
  'chat.sendFailed': '发送失败：{error}',
  'chat.networkLost': '连接已断开，正在重新连接…',
  'chat.loadingOlder': '正在加载更早的消息…',
  'chat.suggest1': '用代码示例讲解二分查找',
  'chat.suggest2': '写一首关于大海的短诗',
  'chat.suggest3': 'x² · sin x 的导数是什么？',
  'chat.suggest4': '用表格比较 SQLite 和 MySQL',
  'demo.title': '演示模型：',
  'demo.body': '你正在使用内置的演示模型，它的回答是预设的示例。要使用真实模型，请设置 CHATBOX_LLM_BASE_URL、CHATBOX_LLM_MODEL 和 CHATBOX_LLM_API_KEY（任何兼容 OpenAI 的接口，如 OpenAI、DeepSeek、通义千问或本地 Ollama），或用 CHATBOX_LLM_COMMAND 接入你自己的程序，然后重启服务器。',
  'demo.dismiss': '隐藏此提示',
  'settings.theme': '主题',
  'settings.themeSystem': '主题：跟随系统',
  'settings.themeLight': '主题：浅色',
  'settings.themeDark': '主题：深色',
  'settings.language': '语言',
  'notfound.title': '页面不存在',
  'notfound.back': '返回聊天',
  'error.network': '无法连接到服务器。',
  'chat.exportMarkdown': '导出为 Markdown',
  'error.server': '服务器出错：{error}',
  'admin.title': '管理',
  'account.title': '账号',
  'account.menu': '账号与管理',
}

const dictionaries = { en, 'zh-CN': zh }

function detect() {
  const saved = localStorage.getItem(KEY)
  if (saved && dictionaries[saved]) return saved
  const langs = navigator.languages?.length ? navigator.languages : [navigator.language || 'en']
  for (const lang of langs) {
    const lower = String(lang).toLowerCase()
    if (lower.startsWith('zh')) return 'zh-CN'
    if (lower.startsWith('en')) return 'en'
  }
  return 'en'
}

function apply(locale) {
  store.locale = locale
  document.documentElement.lang = locale
}

export function initI18n() { apply(detect()) }

/** Pages loaded on demand (account, admin) bring their own strings: { en: {...}, 'zh-CN': {...} }. */
export function addMessages(messages) {
  for (const [locale, dict] of Object.entries(messages)) if (dictionaries[locale]) Object.assign(dictionaries[locale], dict)
}

export function setLocale(locale) {
  if (!dictionaries[locale]) return
  localStorage.setItem(KEY, locale)
  apply(locale)
}

/** t('key', {name: value}) in the current locale; falls back to English, then to the key. */
export function t(key, params) {
  const dict = dictionaries[store.locale] || en
  const text = dict[key] ?? en[key] ?? key
  return params ? text.replace(/\{(\w+)\}/g, (whole, name) => (params[name] != null ? String(params[name]) : whole)) : text
}

const dateFormats = new Map()
/** A date (ISO string) for people, in the UI language and the user's time zone; '' for nothing or a bad date. */
export function formatDateTime(iso, { time = true } = {}) {
  if (!iso) return ''
  const date = new Date(iso)
  if (Number.isNaN(date.getTime())) return String(iso)
  const key = `${store.locale}|${time}`
  let format = dateFormats.get(key)
  if (!format) {
    format = new Intl.DateTimeFormat(store.locale, time ? { dateStyle: 'medium', timeStyle: 'short' } : { dateStyle: 'medium' })
    dateFormats.set(key, format)
  }
  return format.format(date)
}

const relFormats = new Map()
/** "5 minutes ago" / "5 分钟前" for recent times, the date for older ones. */
export function formatRelative(iso, now = Date.now()) {
  const ts = Date.parse(iso)
  if (Number.isNaN(ts)) return iso ? String(iso) : ''
  const seconds = Math.round((now - ts) / 1000)
  if (seconds < 45) return t('time.justNow')
  let format = relFormats.get(store.locale)
  if (!format) { format = new Intl.RelativeTimeFormat(store.locale, { numeric: 'auto' }); relFormats.set(store.locale, format) }
  if (seconds < 3600) return format.format(-Math.max(1, Math.round(seconds / 60)), 'minute')
  if (seconds < 86400) return format.format(-Math.round(seconds / 3600), 'hour')
  if (seconds < 30 * 86400) return format.format(-Math.round(seconds / 86400), 'day')
  return formatDateTime(iso, { time: false })
}
