// A tiny history-API router: "/", "/login", "/c/:id", "/account", "/admin". main.js installs it; the route lives in the store.
import { store } from './store.js'

export function parse(location) {
  const path = location.pathname.replace(/\/+$/, '') || '/'
  const query = Object.fromEntries(new URLSearchParams(location.search))
  let m
  if (path === '/login') return { name: 'login', params: {}, query, path }
  if ((m = path.match(/^\/c\/([^/]+)$/))) return { name: 'chat', params: { id: decodeURIComponent(m[1]) }, query, path }
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
  document.addEventListener('click', (e) => {
    const a = e.target.closest?.('a[data-link]')
    if (!a || e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return
    e.preventDefault()
    navigate(a.getAttribute('href'))
  })
}

export const chatPath = (id) => `/c/${encodeURIComponent(id)}`
