// The composer's text per conversation, in sessionStorage, so a re-login or reload keeps it.
const draftKey = (id) => `chatbox.draft.${id ?? 'new'}`

export function loadDraft(id) {
  try { return sessionStorage.getItem(draftKey(id)) || '' } catch { return '' }
}

export function saveDraft(id, text) {
  try { text ? sessionStorage.setItem(draftKey(id), text) : sessionStorage.removeItem(draftKey(id)) } catch { /* full */ }
}
