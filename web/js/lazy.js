// Parts of the page loaded when first shown (the account and admin pages, the chat settings panel…): their code,
// strings and styles stay out of the chat's first load. The page style sheet is in place before the part shows, so
// it never appears unstyled.
import { defineAsyncComponent } from 'vue'
import PageLoading from './components/PageLoading.js'

let pageStyles = null
export function loadPageStyles() {
  pageStyles ??= new Promise((resolve, reject) => {
    const link = document.createElement('link')
    link.rel = 'stylesheet'
    link.href = '/pages.css'
    link.onload = resolve
    link.onerror = () => { link.remove(); pageStyles = null; reject(new Error('/pages.css did not load')) }
    document.head.appendChild(link)
  })
  return pageStyles
}

/** A component whose module and pages.css load when it is first rendered. */
export const lazyPage = (load) => defineAsyncComponent({
  loader: () => Promise.all([load(), loadPageStyles()]).then(([m]) => m),
  loadingComponent: PageLoading, errorComponent: PageLoading, delay: 150,
})

/** A small part (a dialog, a block) loaded when first rendered, with the page styles; nothing shown meanwhile. */
export const lazyPart = (load, { styles = true } = {}) => defineAsyncComponent({
  loader: () => (styles ? Promise.all([load(), loadPageStyles()]).then(([m]) => m) : load()),
})
