// --runtime-config: built-in group versions (and single resources) turned on or off, with kube's keys
// (k8s.io/apiserver/pkg/server/resourceconfig): api/all, api/ga, api/beta, api/alpha, v1 or api/v1 for
// the core group, <group>/<version>, <group>/<version>/<resource>. The most specific key wins. Only what
// this server serves can be turned on; a group version it does not have is refused as kube refuses one
// it does not know.
import type { Registry } from '../registry/registry'
import { FlagError } from './pflag'

const stability = (version: string): 'ga' | 'beta' | 'alpha' =>
  /^v\d+alpha\d+$/.test(version) ? 'alpha' : /^v\d+beta\d+$/.test(version) ? 'beta' : 'ga'

const gvKey = (group: string, version: string) => (group ? `${group}/${version}` : version)

export function applyRuntimeConfig(registry: Registry, config: Record<string, boolean>): void {
  const entries = Object.entries(config)
  if (!entries.length) return
  const types = [...registry.all()].filter((t) => !t.custom)
  const served = new Set(types.map((t) => gvKey(t.group, t.version)))
  const resources = new Set(types.map((t) => `${gvKey(t.group, t.version)}/${t.resource}`))
  const gvs = new Map<string, boolean>()
  const rs = new Map<string, boolean>()
  const unknown: string[] = []
  for (const [raw, on] of entries) {
    const key = raw === 'api/v1' || raw === 'api/legacy' ? 'v1' : raw
    if (['api/all', 'api/ga', 'api/beta', 'api/alpha'].includes(key)) continue
    const parts = key.split('/')
    // A core resource is v1/<resource>; any other resource is <group>/<version>/<resource>.
    if ((parts.length === 2 && parts[0] === 'v1') || parts.length === 3) {
      if (!resources.has(key)) unknown.push(raw)
      else rs.set(key, on)
      continue
    }
    if (parts.length > 3) throw new FlagError(`invalid key ${raw}`)
    if (!served.has(key)) unknown.push(raw)
    else gvs.set(key, on)
  }
  if (unknown.length) throw new FlagError(`unknown api groups ${unknown.join(',')}`)
  for (const t of types) {
    const gv = gvKey(t.group, t.version)
    let on: boolean | undefined =
      rs.get(`${gv}/${t.resource}`) ??
      gvs.get(gv) ??
      config[`api/${stability(t.version)}`] ??
      config['api/all']
    if (on === undefined) on = true
    if (!on) registry.remove(t.group, t.version, t.resource)
  }
  if (!registry.lookup('', 'v1', 'namespaces')) {
    throw new FlagError(
      '--runtime-config: this server cannot run without v1 (the core group); add v1=true',
    )
  }
}
