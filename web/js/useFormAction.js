// A form's request: `busy` while it runs, `error` (the sentence errorText gives, nothing for a 401: the page is
// already on its way to the login screen). `run(action)` resolves true when the action succeeded.
import { ref } from 'vue'
import { errorText, isUnauthorized } from './errors.js'

/** `known`: errorText's {status: i18n key} for the statuses this form's request can meet. */
export function useFormAction(known = {}) {
  const busy = ref(false)
  const error = ref('')

  async function run(action) {
    busy.value = true
    error.value = ''
    try {
      await action()
      return true
    } catch (failure) {
      if (!isUnauthorized(failure)) error.value = errorText(failure, known)
      return false
    } finally {
      busy.value = false
    }
  }

  return { busy, error, run }
}
