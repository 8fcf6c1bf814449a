// Every request the page makes goes through this module, and so does the SSE reader.
// EventSource cannot POST, so streams are read with fetch + ReadableStream and parsed by SSEParser below.

export class ApiError extends Error {
  constructor(status, message, { retryAfter = null, network = false, code = null } = {}) {
    super(message || `HTTP ${status}`)
    this.name = 'ApiError'
    this.status = status
    /** The refusal's name when the server gives one (`error.code`: "model_unavailable", "already_generating"…). */
    this.code = code
    this.retryAfter = retryAfter
    this.network = network
  }
}

let unauthorizedHandler = null
/** Called with the ApiError when any request (except the ones that expect it) answers 401. */
export function onUnauthorized(fn) { unauthorizedHandler = fn }

const JSON_HEADERS = { 'Content-Type': 'application/json', Accept: 'application/json' }

async function errorFrom(res) {
  let message = ''
  let code = null
  try {
    const body = await res.json()
    message = body?.error?.message || ''
    code = typeof body?.error?.code === 'string' ? body.error.code : null
  } catch { /* not JSON */ }
  const header = res.headers.get('Retry-After')
  const retryAfter = header != null && /^\d+$/.test(header.trim()) ? Number(header) : null
  return new ApiError(res.status, message || res.statusText || `HTTP ${res.status}`, { retryAfter, code })
}

function handle401(error, quiet) {
  if (error.status === 401 && !quiet && unauthorizedHandler) unauthorizedHandler(error)
  return error
}

/** fetch(), with a failure to reach the server as an ApiError (`network`); an abort stays an AbortError. */
async function reach(path, init) {
  try {
    return await fetch(path, init)
  } catch (error) {
    if (error?.name === 'AbortError') throw error
    throw new ApiError(0, error?.message || 'network error', { network: true })
  }
}

/**
 * JSON request. State-changing methods always send a JSON body ({} when there is none), as the server demands.
 * `quiet401`: this request expects a 401 as an ordinary answer (login, the boot-time /me).
 */
async function request(method, path, body, { quiet401 = false, signal, rawJSON = false } = {}) {
  const init = { method, credentials: 'same-origin', headers: { Accept: 'application/json' }, signal }
  if (method !== 'GET' && method !== 'HEAD') {
    init.headers = JSON_HEADERS
    init.body = rawJSON ? body : JSON.stringify(body ?? {}) // rawJSON: the body is already JSON text (an import file)
  }
  const res = await reach(path, init)
  if (!res.ok) throw handle401(await errorFrom(res), quiet401)
  if (res.status === 204) return null
  const type = res.headers.get('Content-Type') || ''
  return type.includes('json') ? res.json() : null
}

/** Content-Disposition's file name (filename*=UTF-8''… first, then filename="…"), or null. */
function fileNameFrom(disposition) {
  if (!disposition) return null
  const star = disposition.match(/filename\*\s*=\s*(?:UTF-8|utf-8)''([^;]+)/)
  if (star) { try { return decodeURIComponent(star[1].trim()) } catch { /* fall through */ } }
  const plain = disposition.match(/filename\s*=\s*"([^"]*)"|filename\s*=\s*([^;]+)/)
  const name = plain ? (plain[1] ?? plain[2]).trim() : ''
  return name || null
}

/** GET a file the server sends as an attachment: resolves to {blob, filename}. */
async function download(path, fallbackName) {
  const res = await reach(path, { credentials: 'same-origin', cache: 'no-store' })
  if (!res.ok) throw handle401(await errorFrom(res), false)
  const blob = await res.blob()
  return { blob, filename: fileNameFrom(res.headers.get('Content-Disposition')) || fallbackName }
}

const queryString = (params) => {
  const search = new URLSearchParams()
  for (const [name, value] of Object.entries(params)) if (value != null && value !== '') search.set(name, String(value))
  const text = search.toString()
  return text ? `?${text}` : ''
}
const enc = encodeURIComponent

export const api = {
  config: () => request('GET', '/api/config'),
  me: () => request('GET', '/api/auth/me', undefined, { quiet401: true }),
  login: (username, password) => request('POST', '/api/auth/login', { username, password }, { quiet401: true }),
  register: (username, password) => request('POST', '/api/auth/register', { username, password }, { quiet401: true }),
  logout: () => request('POST', '/api/auth/logout', {}, { quiet401: true }),

  listConversations: ({ limit, cursor, q: query } = {}, signal) =>
    request('GET', `/api/conversations${queryString({ limit, cursor, q: query })}`, undefined, { signal }),
  /** `fields`: {title?, model?, system_prompt?, temperature?} (a string is a title, as before). */
  createConversation: (fields) =>
    request('POST', '/api/conversations', typeof fields === 'string' ? { title: fields } : fields ?? {}),
  getConversation: (id, signal) => request('GET', `/api/conversations/${enc(id)}`, undefined, { signal }),
  renameConversation: (id, title) => request('PATCH', `/api/conversations/${enc(id)}`, { title }),
  /** `patch`: {model?, system_prompt?, temperature?, title?}; null resets system_prompt / temperature. */
  updateConversation: (id, patch) => request('PATCH', `/api/conversations/${enc(id)}`, patch),
  deleteConversation: (id) => request('DELETE', `/api/conversations/${enc(id)}`, {}),
  stop: (id) => request('POST', `/api/conversations/${enc(id)}/stop`, {}),

  /** POST a message; events go to onEvent(name, data). Resolves when the stream closes. */
  /**
   * `parentId`: undefined continues the current leaf; an id puts the question under that message; null makes a new
   * version of the first question (the key is sent: absent ≠ null).
   */
  sendMessage: (id, content, opts, parentId) => stream('POST', `/api/conversations/${enc(id)}/messages`,
    parentId === undefined ? { content } : { content, parent_id: parentId }, opts),
  /**
   * A new answer beside the old ones, to the question above `messageId` (null: the current leaf). `model`: answer
   * with this model (the conversation switches to it too); null keeps the conversation's.
   */
  regenerate: (id, opts, model = null, messageId = null) =>
    stream('POST', `/api/conversations/${enc(id)}/regenerate`,
      { ...(messageId != null ? { message_id: messageId } : {}), ...(model ? { model } : {}) }, opts),
  /** Selects the path shown (and remembered) in a conversation: the leaf at its end. */
  selectLeaf: (id, leafId) => request('PATCH', `/api/conversations/${enc(id)}`, { current_leaf_id: leafId }),

  // models and presets (any signed-in user)
  models: () => request('GET', '/api/models'),
  presets: () => request('GET', '/api/presets'),
  createPreset: (preset) => request('POST', '/api/presets', preset),
  deletePreset: (id) => request('DELETE', `/api/presets/${enc(id)}`, {}),
  /** Re-attach to a running generation. Resolves to false when none runs (204). */
  attach: (id, opts) => stream('GET', `/api/conversations/${enc(id)}/stream`, undefined, opts),

  // admin (403 for non-admins)
  adminUsers: ({ limit, cursor, q: query } = {}, signal) =>
    request('GET', `/api/admin/users${queryString({ limit, cursor, q: query })}`, undefined, { signal }),
  adminCreateUser: (username, password, role) => request('POST', '/api/admin/users', { username, password, role }),
  adminUpdateUser: (id, patch) => request('PATCH', `/api/admin/users/${enc(id)}`, patch),
  adminResetPassword: (id, password) => request('POST', `/api/admin/users/${enc(id)}/password`, { password }),
  adminDeleteUser: (id, confirm) => request('DELETE', `/api/admin/users/${enc(id)}${queryString({ confirm })}`, {}),
  adminSettings: () => request('GET', '/api/admin/settings'),
  adminUpdateSettings: (patch) => request('PATCH', '/api/admin/settings', patch),
  adminConnections: () => request('GET', '/api/admin/connections'),
  adminCreateConnection: (fields) => request('POST', '/api/admin/connections', fields),
  adminUpdateConnection: (id, patch) => request('PATCH', `/api/admin/connections/${enc(id)}`, patch),
  adminDeleteConnection: (id) => request('DELETE', `/api/admin/connections/${enc(id)}`, {}),
  adminRefreshConnection: (id) => request('POST', `/api/admin/connections/${enc(id)}/refresh`, {}),
  adminModels: () => request('GET', '/api/admin/models'),
  /** `patch`: {default_model?, title_model?, hidden?: [ids]} */
  adminUpdateModels: (patch) => request('PATCH', '/api/admin/models', patch),

  // own account
  sessions: () => request('GET', '/api/account/sessions'),
  revokeSession: (id) => request('DELETE', `/api/account/sessions/${enc(id)}`, {}),
  changePassword: (currentPassword, newPassword) =>
    request('POST', '/api/account/password', { current_password: currentPassword, new_password: newPassword }),
  deleteAccount: (password) => request('POST', '/api/account/delete', { password }),
  exportAll: () => download('/api/account/export', 'chatbox-export.json'),
  exportConversation: (id) => download(`/api/account/export/${enc(id)}`, `conversation-${id}.md`),
  /** `json` is the file's text, sent as it is (the server tells a Chatbox export from ChatGPT's). */
  importHistory: (json) => request('POST', '/api/account/import', json, { rawJSON: true }),
}

/**
 * Incremental Server-Sent Events parser (the WHATWG rules that matter here): lines end with \n, \r\n or \r
 * (also split across chunks), `event:` / `data:` / `id:` fields, `:` comments, an event is dispatched at a blank
 * line, several data lines are joined with \n, one leading space after the colon is dropped.
 */
export class SSEParser {
  constructor(onEvent) {
    this.onEvent = onEvent
    this.buf = ''
    this.pendingCR = false
    this.reset()
  }
  reset() { this.event = ''; this.data = []; this.hasData = false }
  push(chunk) {
    let text = chunk
    if (this.pendingCR) { // a \r ended the previous chunk: a \n starting this one belongs to it
      this.pendingCR = false
      if (text.startsWith('\n')) text = text.slice(1)
    }
    this.buf += text
    let start = 0
    const buf = this.buf
    for (let i = 0; i < buf.length; i++) {
      const code = buf.charCodeAt(i)
      if (code !== 10 && code !== 13) continue
      this.line(buf.slice(start, i))
      if (code === 13) {
        if (i + 1 < buf.length) { if (buf.charCodeAt(i + 1) === 10) i++ } else this.pendingCR = true
      }
      start = i + 1
    }
    this.buf = buf.slice(start)
  }
  line(line) {
    if (line === '') {
      if (this.hasData) this.onEvent(this.event || 'message', this.data.join('\n'))
      this.reset()
      return
    }
    if (line.charCodeAt(0) === 58) return // ':' comment / keep-alive
    const colon = line.indexOf(':')
    const field = colon === -1 ? line : line.slice(0, colon)
    let value = colon === -1 ? '' : line.slice(colon + 1)
    if (value.charCodeAt(0) === 32) value = value.slice(1)
    if (field === 'event') this.event = value
    else if (field === 'data') { this.data.push(value); this.hasData = true }
    // id / retry: not needed (re-attaching goes through GET /stream, not Last-Event-ID)
  }
  end() { // a stream that closes without the final blank line: dispatch what is complete
    if (this.buf !== '') this.line(this.buf)
    this.buf = ''
    this.line('')
  }
}

/**
 * Opens an SSE response and feeds its events to onEvent(name, parsedJSON).
 * Resolves true when the stream ended, false when the server answered 204 (nothing to attach to).
 * Pre-stream errors (JSON bodies with 4xx/5xx) reject with ApiError.
 */
async function stream(method, path, body, { onEvent, signal } = {}) {
  const init = { method, credentials: 'same-origin', headers: { Accept: 'text/event-stream' }, signal, cache: 'no-store' }
  if (method !== 'GET') {
    init.headers = { ...JSON_HEADERS, Accept: 'text/event-stream' }
    init.body = JSON.stringify(body ?? {})
  }
  const res = await reach(path, init)
  if (res.status === 204) return false
  if (!res.ok) throw handle401(await errorFrom(res), false)
  const type = res.headers.get('Content-Type') || ''
  if (!type.includes('text/event-stream') || !res.body) {
    throw new ApiError(res.status, `unexpected response (${type || 'no content type'})`)
  }
  const parser = new SSEParser((name, data) => {
    let payload = null
    try { payload = data ? JSON.parse(data) : null } catch { return } // ignore malformed events
    onEvent?.(name, payload)
  })
  const reader = res.body.getReader()
  const decoder = new TextDecoder('utf-8')
  try {
    for (;;) {
      const { done, value } = await reader.read()
      if (done) break
      parser.push(decoder.decode(value, { stream: true }))
    }
    parser.push(decoder.decode())
    parser.end()
  } catch (error) {
    if (error?.name === 'AbortError') throw error
    throw new ApiError(0, error?.message || 'the connection was interrupted', { network: true })
  } finally {
    try { reader.releaseLock() } catch { /* already released */ }
  }
  return true
}
