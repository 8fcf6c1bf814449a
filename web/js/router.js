// A tiny history-API router: "/", "/login", "/c/:id", "/account", "/admin". main.js installs it; the route lives in the store.
import { store } from './store.js'

function parse(location) {
  const path = location.pathname.replace(/\/+$/, '') || '/'
  const query = Object.fromEntries(new URLSearchParams(location.search))
  let match
  if (path === '/login') return { name: 'login', params: {}, query, path }
  if ((match = path.match(/^\/c\/([^/]+)$/))) return { name: 'chat', params: { id: decodeURIComponent(match[1]) }, query, path }
  if (path === '/') return { name: 'home', params: {}, query, path }
  if (path === '/account') return { name: 'account', params: {}, query, path }
  if (path === '/admin') return { name: 'admin', params: {}, query, path }
  return { name: 'notfound', params: {}, query, path }
}

export function navigate(to, { replace = false } = {}) {
  const current = location.pathname + location.search
  if (to !== current) history[replace ? 'replaceState' : 'pushState']({}, '', to)
  store.route = parse(location)
}

export function installRouter() {
  store.route = parse(location)
  window.addEventListener('popstate', () => { store.route = parse(location) })
  // Plain same-origin links inside the app (<a href="/c/1" data-link>) navigate without reloading.
  document.addEventListener('click', (event) => {
    const link = event.target.closest?.('a[data-link]')
    if (!link || event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return
    event.preventDefault()
    navigate(link.getAttribute('href'))
  })
}

export const chatPath = (id) => `/c/${encodeURIComponent(id)}`
