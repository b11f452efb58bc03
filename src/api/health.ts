// /healthz, /livez, /readyz with kube-apiserver's verbose and exclude forms.
import { decodeHealthOptions } from './query'

export interface HealthCheck {
  name: string
  check(): Promise<void>
}

export async function healthResponse(
  endpoint: 'healthz' | 'livez' | 'readyz',
  checks: HealthCheck[],
  url: URL,
  only?: string,
): Promise<Response> {
  const text = (body: string, status = 200) =>
    new Response(body, {
      status,
      headers: {
        'Content-Type': 'text/plain; charset=utf-8',
        'X-Content-Type-Options': 'nosniff',
        'Cache-Control': 'no-cache, private',
      },
    })
  if (only !== undefined) {
    const c = checks.find((x) => x.name === only)
    if (!c) return text('404 page not found\n', 404)
    try {
      await c.check()
      return text('ok')
    } catch {
      return text(`internal server error: ${only} check failed\n`, 500)
    }
  }
  const options = decodeHealthOptions(url.searchParams)
  const excluded = new Set(options.exclude)
  const verbose = options.verbose
  const lines: string[] = []
  let failed = false
  for (const c of checks) {
    if (excluded.has(c.name)) {
      lines.push(`[+]${c.name} excluded: ok`)
      excluded.delete(c.name)
      continue
    }
    try {
      await c.check()
      lines.push(`[+]${c.name} ok`)
    } catch {
      failed = true
      lines.push(`[-]${c.name} failed: reason withheld`)
    }
  }
  const notFound = [...excluded]
  if (failed) {
    return text(`${lines.join('\n')}\n${endpoint} check failed\n`, 500)
  }
  if (!verbose) return text('ok')
  const warn = notFound.length
    ? `warn: some health checks cannot be excluded: no matches for "${notFound.join('", "')}"\n`
    : ''
  return text(`${lines.join('\n')}\n${warn}${endpoint} check passed\n`)
}
