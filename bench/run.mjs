// npm run bench: every bench/*.bench.mjs in turn. Benchmarks print numbers; they assert nothing about time.
import { readdirSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

const dir = fileURLToPath(new URL('.', import.meta.url))
for (const f of readdirSync(dir).filter((f) => f.endsWith('.bench.mjs')).sort()) {
  await import(new URL(f, import.meta.url).href)
  console.log()
}
