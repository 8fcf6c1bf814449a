// The performance probe: the timings of streamed updates and final renders, read by the browser tests
// (e2e/test_perf.py) as window.__chatboxPerf.
export const perf = {
  updates: [], // {ms, renderMs, length}: one per streamed update (one animation frame)
  finals: [], //  {ms, length}: the full render when a stream ends
  record(kind, entry) {
    const list = this[kind]
    list.push(entry)
    if (list.length > 20000) list.splice(0, list.length - 20000)
  },
  reset() { this.updates.length = 0; this.finals.length = 0 },
}
window.__chatboxPerf = perf
