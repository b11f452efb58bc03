// kubectl caches discovery per host:port under ~/.kube/cache for hours; servers started by the tests reuse
// loopback ports, so one test's kubectl could read what another server (other groups, other CRDs) served.
// Every kubectl the tests start gets a cache of this run's own.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export default function setup(): () => void {
  const dir = mkdtempSync(join(tmpdir(), 'edge-apiserver-kubectl-cache-'))
  process.env.KUBECACHEDIR = dir
  return () => rmSync(dir, { recursive: true, force: true })
}
