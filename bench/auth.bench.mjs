// Added latency of authentication + authorization per request, with 1,000 RoleBindings and 200
// ClusterRoleBindings in the cluster: the ServerAuth the Worker uses, over an in-memory Store (so the numbers are
// the auth code's own cost, not the store's), bundled from src/ with esbuild as wrangler would.
import { build } from 'esbuild'
import { generateKeyPairSync } from 'node:crypto'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
const entry = `
export { ServerAuth } from './src/auth/server-auth'
export { ensureBootstrapPolicy } from './src/auth/rbac/bootstrap-policy'
export { MemoryStore } from './test/helpers/memory-store'
export { authenticateRequest } from './src/server/filters/authentication'
`
const out = await build({ stdin: { contents: entry, resolveDir: root, loader: 'ts' }, bundle: true, write: false, format: 'esm', platform: 'neutral', logLevel: 'silent' })
const { ServerAuth, ensureBootstrapPolicy, MemoryStore, authenticateRequest } = await import(`data:text/javascript;base64,${Buffer.from(out.outputFiles[0].text).toString('base64')}`)

const USERS = 1000
const store = new MemoryStore()
await ensureBootstrapPolicy(store)
const RBAC = 'rbac.authorization.k8s.io'
for (let i = 0; i < USERS; i++) {
  const ns = `ns-${i % 100}`
  await store.put(`/registry/rolebindings/${ns}/user-${i}`, {
    apiVersion: `${RBAC}/v1`, kind: 'RoleBinding', metadata: { name: `user-${i}`, namespace: ns },
    roleRef: { apiGroup: RBAC, kind: 'ClusterRole', name: i % 2 ? 'view' : 'edit' }, subjects: [{ kind: 'User', apiGroup: RBAC, name: `user-${i}` }],
  })
}
for (let i = 0; i < 200; i++) {
  await store.put(`/registry/clusterrolebindings/team-${i}`, {
    apiVersion: `${RBAC}/v1`, kind: 'ClusterRoleBinding', metadata: { name: `team-${i}` },
    roleRef: { apiGroup: RBAC, kind: 'ClusterRole', name: 'view' }, subjects: [{ kind: 'Group', apiGroup: RBAC, name: `team-${i}` }],
  })
}
await store.put('/registry/serviceaccounts/ns-7/bot', { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'bot', namespace: 'ns-7' } })

const tokenFile = Array.from({ length: USERS }, (_, i) => `token-${i},user-${i},uid-${i},"team-${i % 300}"`).join('\n')
const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
const auth = new ServerAuth({ tokenAuthFile: tokenFile, serviceAccountSigningKey: privateKey.export({ format: 'pem', type: 'pkcs8' }) })
const sa = JSON.parse((await store.get('/registry/serviceaccounts/ns-7/bot')).kv.value)
const tokens = await auth.serviceAccountTokens()
const { token: saToken } = await tokens.issueBound({ namespace: 'ns-7', serviceaccount: { name: 'bot', uid: sa.metadata.uid } }, tokens.apiAudiences, 3600)
await store.put('/registry/rolebindings/ns-7/bot', {
  apiVersion: `${RBAC}/v1`, kind: 'RoleBinding', metadata: { name: 'bot', namespace: 'ns-7' },
  roleRef: { apiGroup: RBAC, kind: 'ClusterRole', name: 'view' }, subjects: [{ kind: 'ServiceAccount', name: 'bot', namespace: 'ns-7' }],
})

const attrs = (user, over) => ({ user, verb: 'list', isResourceRequest: true, path: '', apiGroup: '', apiVersion: 'v1', namespace: '', resource: 'configmaps', subresource: '', name: '', ...over })

/** One request's authentication and authorization, as app.ts runs them. */
async function request(token, namespace, resource = 'configmaps') {
  const req = new Request('https://edge.example/api/v1/namespaces/x/configmaps', { headers: { authorization: `Bearer ${token}` } })
  const { user } = await authenticateRequest(req, auth.authenticators(store), false)
  if (!user) throw new Error('not authenticated')
  return (await auth.authorizer(store).authorize(attrs(user, { namespace, resource }))).decision
}

async function measure(name, n, fn) {
  for (let i = 0; i < 200; i++) await fn(i) // warm: JIT, caches, the policy snapshot
  const samples = new Float64Array(n)
  for (let i = 0; i < n; i++) {
    const t0 = process.hrtime.bigint()
    await fn(i)
    samples[i] = Number(process.hrtime.bigint() - t0) / 1000
  }
  samples.sort()
  const q = (p) => samples[Math.min(n - 1, Math.floor(p * n))].toFixed(1)
  console.log(`${name.padEnd(62)} p50 ${q(0.5).padStart(7)}µs  p90 ${q(0.9).padStart(7)}µs  p99 ${q(0.99).padStart(7)}µs`)
}

console.log(`auth: authentication + authorization per request (${USERS} RoleBindings, 200 ClusterRoleBindings, in-memory store)`)
await measure('token file user, allowed by a RoleBinding', 20_000, async (i) => {
  const u = i % USERS
  if ((await request(`token-${u}`, `ns-${u % 100}`)) !== 'Allow') throw new Error('expected Allow')
})
await measure('token file user, denied (every candidate binding visited)', 20_000, async (i) => {
  const u = i % USERS
  if ((await request(`token-${u}`, `ns-${(u + 1) % 100}`, 'secrets')) === 'Allow') throw new Error('expected a denial')
})
await measure('bound service account token (verified, then cached), allowed', 20_000, async () => {
  if ((await request(saToken, 'ns-7')) !== 'Allow') throw new Error('expected Allow')
})
const fresh = () => new ServerAuth({ serviceAccountSigningKey: privateKey.export({ format: 'pem', type: 'pkcs8' }) })
const uncached = fresh()
await uncached.serviceAccountTokens()
await measure('bound service account token, signature verified every time', 2_000, async () => {
  const t = await uncached.serviceAccountTokens()
  const r = await t.authenticate(saToken, t.apiAudiences, store)
  if (!r) throw new Error('not authenticated')
  // Drop the 10s success cache so every iteration verifies the signature and reads the service account.
  t.cache?.clear?.()
})
