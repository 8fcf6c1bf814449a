// Saves a Blob as a file: an <a download> made in JS, clicked, and removed (no inline handlers, no new window).
export function saveBlob(blob, filename) {
  const url = URL.createObjectURL(blob)
  const a = document.createElement('a')
  a.href = url
  a.download = filename || 'download'
  a.rel = 'noopener'
  a.style.display = 'none'
  document.body.appendChild(a)
  a.click()
  a.remove()
  // the download has started from the click; the URL can go once the browser has read it
  setTimeout(() => URL.revokeObjectURL(url), 60_000)
}
