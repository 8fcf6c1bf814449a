// Saves a Blob as a file: an <a download> made in JS, clicked, and removed (no inline handlers, no new window).
export function saveBlob(blob, filename) {
  const url = URL.createObjectURL(blob)
  const link = document.createElement('a')
  link.href = url
  link.download = filename || 'download'
  link.rel = 'noopener'
  link.style.display = 'none'
  document.body.appendChild(link)
  link.click()
  link.remove()
  // the download has started from the click; the URL can go once the browser has read it
  setTimeout(() => URL.revokeObjectURL(url), 60_000)
}
