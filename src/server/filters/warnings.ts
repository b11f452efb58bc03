// kube-apiserver's WithWarningRecorder (k8s.io/apiserver/pkg/endpoints/filters/warning.go): one recorder per
// request collects the warnings every layer adds (admission webhooks and policies, field validation,
// deprecations), and the response that leaves, whatever it is (an object, an error Status, a watch stream),
// carries them as `Warning: 299 - "<text>"` headers. Deduplication and truncation follow the recorder there.
import type { MiddlewareHandler } from 'hono'

/** Past this many characters of warning text, every warning is cut to TRUNCATE_ITEM_RUNES (warning.go). */
export const TRUNCATE_AT_TOTAL_RUNES = 4 * 1024
export const TRUNCATE_ITEM_RUNES = 256

/** The request's warnings, in the order they were added; what reaches the client is warningHeaderValues'. */
export type Warnings = string[]

export type WarningVariables = { warnings: Warnings }

/**
 * The Warning header values for the warnings a request recorded, as the recorder writes them while they
 * arrive: a repeated text once; past TRUNCATE_AT_TOTAL_RUNES, every warning so far is rewritten cut to
 * TRUNCATE_ITEM_RUNES and later ones are added cut, until the total is reached again. A text that cannot
 * be a header (control characters) is dropped, as net.NewWarningHeader refuses it.
 */
export function warningHeaderValues(
  warnings: readonly string[],
  totalRunes = TRUNCATE_AT_TOTAL_RUNES,
  itemRunes = TRUNCATE_ITEM_RUNES,
): string[] {
  const recorded = new Set<string>()
  const ordered: string[] = []
  let headers: string[] = []
  let written = 0
  let truncating = false
  const cut = (runes: string[]) => (runes.length > itemRunes ? runes.slice(0, itemRunes) : runes)
  for (const text of warnings) {
    if (!text) continue
    if (truncating && written >= totalRunes) break
    if (recorded.has(text)) continue
    recorded.add(text)
    ordered.push(text)
    let runes = [...text]
    if (truncating) runes = cut(runes)
    const header = warningHeader(runes.join(''))
    if (header === undefined) continue
    if (written + runes.length <= totalRunes || truncating) {
      written += runes.length
      headers.push(header)
      continue
    }
    truncating = true
    written = 0
    headers = []
    for (const earlier of ordered) {
      const r = cut([...earlier])
      const h = warningHeader(r.join(''))
      if (h === undefined) continue
      written += r.length
      headers.push(h)
    }
  }
  return headers
}

// net.NewWarningHeader(299, "", text): code, agent "-", and the text as strconv.Quote writes it. Quote keeps
// printable non-ASCII as it is; a header carries bytes, so it leaves as its UTF-8 bytes, as Go writes it.
function warningHeader(text: string): string | undefined {
  if (/\p{Cc}/u.test(text) || /\p{Cs}/u.test(text)) return undefined
  const quoted = `"${text.replace(/["\\]/g, (c) => `\\${c}`)}"`
  return `299 - ${utf8Bytes(quoted)}`
}

function utf8Bytes(s: string): string {
  // eslint-disable-next-line no-control-regex
  if (/^[\x00-\x7f]*$/.test(s)) return s
  let out = ''
  for (const b of new TextEncoder().encode(s)) out += String.fromCharCode(b)
  return out
}

/**
 * Sets up the request's warning list (c.get('warnings')) and writes what it holds onto the response that
 * leaves, error Statuses included: hono hands an inner middleware's or handler's error to onError before
 * this sees the response.
 */
export function withWarningRecorder(): MiddlewareHandler<{ Variables: WarningVariables }> {
  return async (c, next) => {
    const warnings: Warnings = []
    c.set('warnings', warnings)
    await next()
    const values = warningHeaderValues(warnings)
    if (!values.length) return
    try {
      for (const v of values) c.res.headers.append('Warning', v)
    } catch {
      // A response whose headers are immutable (one relayed from fetch) is copied to take them.
      const res = new Response(c.res.body, c.res)
      for (const v of values) res.headers.append('Warning', v)
      c.res = res
    }
  }
}
