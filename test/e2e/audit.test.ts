// Audit logging as kube-apiserver does it, driven by the real kubectl: a policy with one namespace per
// level, and for each level the events of a create, a request RBAC denies, an impersonated request and a
// watch, checked field by field as a loopback webhook receives them in batched EventLists. The same
// events reach the log: Workers Logs lines on workerd (printed by wrangler dev), the --audit-log-path
// file in Node mode (test/node/e2e/audit.test.ts runs this file there).
import { createServer, type Server } from 'node:http'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { freePort, LocalServer } from './harness'

type Event = Record<string, unknown> & {
  auditID: string
  stage: string
  level: string
  verb: string
  requestURI: string
  user: Record<string, unknown>
  objectRef?: Record<string, unknown>
  responseStatus?: Record<string, unknown>
  annotations?: Record<string, string>
}

const LEVELS = ['Metadata', 'Request', 'RequestResponse'] as const
const nsOf = (level: string) => `audit-${level.toLowerCase()}`
const POLICY = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [Panic]
rules:
${LEVELS.map((l) => `- level: ${l}\n  namespaces: [${nsOf(l)}]\n  omitManagedFields: true`).join('\n')}
- level: None
`

const dir = mkdtempSync(join(tmpdir(), 'edge-audit-e2e-'))
const isNode = LocalServer.name === 'NodeModeLocalServer'
const logPath = join(dir, 'audit.log')
let server: LocalServer
let hook: Server
const lists: { kind: string; apiVersion: string; metadata: unknown; items: Event[] }[] = []
let admin: { username: string; groups: string[] }
let saToken = ''

const STAGE_ORDER = ['RequestReceived', 'ResponseStarted', 'ResponseComplete']
const received = () => lists.flatMap((l) => l.items)

async function eventually<T>(fn: () => T | Promise<T>, ok: (v: T) => boolean): Promise<T> {
  let v = await fn()
  for (let i = 0; i < 100 && !ok(v); i++) {
    await new Promise((r) => setTimeout(r, 100))
    v = await fn()
  }
  return v
}

/**
 * The stages of the request whose completed event matches `pred` (the first stages know less: no name
 * before the body is read, no impersonated user before impersonation), once `count` of them arrived.
 */
async function stagesOf(pred: (e: Event) => boolean, count: number): Promise<Event[]> {
  const last = await eventually(
    () => received().find((e) => e.stage !== 'RequestReceived' && pred(e)),
    (e) => e !== undefined,
  )
  if (!last) throw new Error('no such event')
  const evs = await eventually(
    () => received().filter((e) => e.auditID === last.auditID),
    (evs) => evs.length >= count,
  )
  return evs.sort((a, b) => STAGE_ORDER.indexOf(a.stage) - STAGE_ORDER.indexOf(b.stage))
}

beforeAll(async () => {
  const hookPort = await freePort()
  hook = createServer((req, res) => {
    let body = ''
    req.on('data', (d) => (body += d))
    req.on('end', () => {
      lists.push(JSON.parse(body))
      res.writeHead(200, { 'Content-Type': 'application/json' }).end('{}')
    })
  })
  await new Promise<void>((r) => hook.listen(hookPort, '127.0.0.1', r))
  const policy = join(dir, 'policy.yaml')
  writeFileSync(policy, POLICY)
  const kubeconfig = join(dir, 'webhook.kubeconfig')
  writeFileSync(
    kubeconfig,
    `apiVersion: v1
kind: Config
clusters:
- name: hook
  cluster:
    server: http://127.0.0.1:${hookPort}/audit
users:
- name: apiserver
  user:
    token: hook-token
contexts:
- name: default
  context: {cluster: hook, user: apiserver}
current-context: default
`,
  )
  // wrangler dev prints the Worker's console.log (Workers Logs) at its "log" level.
  process.env.EDGE_LOG_LEVEL = 'log'
  server = await LocalServer.start(undefined, [
    `--audit-policy-file=${policy}`,
    `--audit-webhook-config-file=${kubeconfig}`,
    '--audit-webhook-batch-max-wait=300ms',
    ...(isNode ? [`--audit-log-path=${logPath}`] : []),
  ])
  admin = JSON.parse(await server.k('auth', 'whoami', '-o', 'json')).status.userInfo
  for (const l of LEVELS) {
    await server.k('create', 'namespace', nsOf(l))
    await server.k(
      'create',
      'rolebinding',
      'alice-view',
      '--clusterrole=view',
      '--user=alice',
      '-n',
      nsOf(l),
    )
  }
  await server.k('create', 'serviceaccount', 'auditor', '-n', 'default')
  saToken = (await server.k('create', 'token', 'auditor', '-n', 'default')).trim()
}, 180_000)

afterAll(async () => {
  await server?.dispose()
  await new Promise((r) => hook?.close(r))
  rmSync(dir, { recursive: true, force: true })
})

/** Fields of every event, in kube's order, for one stage of one request. */
function checkCommon(e: Event, level: string, stage: string) {
  expect(e.kind).toBe('Event')
  expect(e.apiVersion).toBe('audit.k8s.io/v1')
  expect(e.level).toBe(level)
  expect(e.stage).toBe(stage)
  expect(e.auditID).toMatch(/^[0-9a-f-]{36}$/)
  expect(e.sourceIPs).toEqual(['127.0.0.1'])
  expect(e.requestReceivedTimestamp).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/)
  expect(e.stageTimestamp).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/)
  if (stage === 'RequestReceived') {
    expect(e.stageTimestamp).toBe(e.requestReceivedTimestamp)
    expect(e.responseStatus).toBeUndefined()
    expect(e.annotations).toBeUndefined()
  } else {
    expect(Date.parse(e.stageTimestamp as string)).toBeGreaterThanOrEqual(
      Date.parse(e.requestReceivedTimestamp as string),
    )
  }
  const order = [
    'kind',
    'apiVersion',
    'level',
    'auditID',
    'stage',
    'requestURI',
    'verb',
    'user',
    'impersonatedUser',
    'sourceIPs',
    'userAgent',
    'objectRef',
    'responseStatus',
    'requestObject',
    'responseObject',
    'requestReceivedTimestamp',
    'stageTimestamp',
    'annotations',
  ]
  const keys = Object.keys(e)
  expect(keys).toEqual(order.filter((k) => keys.includes(k)))
}

/** Each request's events, by auditID, in stage order. */
function byRequest(events: Event[]): Event[][] {
  const m = new Map<string, Event[]>()
  for (const e of events) m.set(e.auditID, [...(m.get(e.auditID) ?? []), e])
  return [...m.values()].map((evs) =>
    evs.sort((a, b) => STAGE_ORDER.indexOf(a.stage) - STAGE_ORDER.indexOf(b.stage)),
  )
}

describe.each(LEVELS)('audit events at level %s', (level) => {
  const ns = nsOf(level)
  const atLeastRequest = level !== 'Metadata'
  const rr = level === 'RequestResponse'

  it('records a create with kubectl: RequestReceived, then ResponseComplete with 201', async () => {
    await server.k('create', 'configmap', 'c1', '--from-literal=k=v', '-n', ns)
    const evs = await stagesOf(
      (e) => e.verb === 'create' && e.objectRef?.namespace === ns && e.objectRef?.name === 'c1',
      2,
    )
    expect(evs.map((e) => e.stage)).toEqual(['RequestReceived', 'ResponseComplete'])
    const [rcv, done] = evs
    for (const e of evs) {
      checkCommon(e!, level, e!.stage)
      expect(e!.auditID).toBe(rcv!.auditID)
      expect(e!.requestURI).toBe(
        `/api/v1/namespaces/${ns}/configmaps?fieldManager=kubectl-create&fieldValidation=Strict`,
      )
      expect(e!.user).toEqual(admin)
      expect(e!.impersonatedUser).toBeUndefined()
      expect(e!.userAgent).toMatch(/^kubectl\/v1\./)
    }
    expect(rcv!.responseObject).toBeUndefined()
    if (rr) {
      const obj = done!.responseObject as Record<string, any>
      expect(obj).toMatchObject({
        kind: 'ConfigMap',
        apiVersion: 'v1',
        metadata: { name: 'c1', namespace: ns },
        data: { k: 'v' },
      })
      expect(obj.metadata.uid).toMatch(/^[0-9a-f-]{36}$/)
      // omitManagedFields: the policy keeps them out of the logged objects.
      expect(obj.metadata.managedFields).toBeUndefined()
    } else expect(done!.responseObject).toBeUndefined()
    // The request object's name reaches objectRef once the body is decoded, at every level.
    expect(rcv!.objectRef).toEqual({ resource: 'configmaps', namespace: ns, apiVersion: 'v1' })
    expect(done!.objectRef).toEqual({
      resource: 'configmaps',
      namespace: ns,
      name: 'c1',
      apiVersion: 'v1',
    })
    expect(done!.responseStatus).toEqual({ metadata: {}, code: 201 })
    expect(done!.annotations).toEqual({
      'authorization.k8s.io/decision': 'allow',
      'authorization.k8s.io/reason': expect.any(String),
    })
    if (atLeastRequest) {
      expect(done!.requestObject).toMatchObject({
        kind: 'ConfigMap',
        apiVersion: 'v1',
        metadata: { name: 'c1' },
        data: { k: 'v' },
      })
    } else expect(done!.requestObject).toBeUndefined()
    expect(rcv!.requestObject).toBeUndefined()
  })

  it('records a list RBAC denies: 403 with the Forbidden status and decision forbid', async () => {
    const r = await server.request('GET', `/api/v1/namespaces/${ns}/configmaps`, undefined, {
      Authorization: `Bearer ${saToken}`,
      'User-Agent': 'audit-e2e',
    })
    expect(r.status).toBe(403)
    const id = r.headers['audit-id'] as string
    expect(id).toMatch(/^[0-9a-f-]{36}$/)
    const evs = await stagesOf((e) => e.auditID === id, 2)
    expect(evs.map((e) => e.stage)).toEqual(['RequestReceived', 'ResponseComplete'])
    const message = `configmaps is forbidden: User "system:serviceaccount:default:auditor" cannot list resource "configmaps" in API group "" in the namespace "${ns}"`
    for (const e of evs) {
      checkCommon(e, level, e.stage)
      expect(e.verb).toBe('list')
      expect(e.requestURI).toBe(`/api/v1/namespaces/${ns}/configmaps`)
      expect(e.userAgent).toBe('audit-e2e')
      expect(e.user).toMatchObject({
        username: 'system:serviceaccount:default:auditor',
        groups: [
          'system:serviceaccounts',
          'system:serviceaccounts:default',
          'system:authenticated',
        ],
      })
      expect(e.objectRef).toEqual({ resource: 'configmaps', namespace: ns, apiVersion: 'v1' })
      expect(e.requestObject).toBeUndefined()
    }
    const done = evs[1]!
    expect(done.responseStatus).toEqual({
      metadata: {},
      status: 'Failure',
      message,
      reason: 'Forbidden',
      details: { kind: 'configmaps' },
      code: 403,
    })
    expect(done.annotations).toEqual({
      'authorization.k8s.io/decision': 'forbid',
      'authorization.k8s.io/reason': expect.any(String),
    })
    if (rr)
      expect(done.responseObject).toEqual({
        kind: 'Status',
        apiVersion: 'v1',
        metadata: {},
        status: 'Failure',
        message,
        reason: 'Forbidden',
        details: { kind: 'configmaps' },
        code: 403,
      })
    else expect(done.responseObject).toBeUndefined()
  })

  it('records an impersonated get with the requester as user and alice as impersonatedUser', async () => {
    const out = JSON.parse(
      await server.k('get', 'configmap', 'c1', '-n', ns, '-o', 'json', '--as=alice'),
    )
    expect(out.metadata.name).toBe('c1')
    const evs = await stagesOf(
      (e) => e.verb === 'get' && e.objectRef?.namespace === ns && !!e.impersonatedUser,
      2,
    )
    expect(evs.map((e) => e.stage)).toEqual(['RequestReceived', 'ResponseComplete'])
    const [rcv, done] = evs
    checkCommon(rcv!, level, 'RequestReceived')
    checkCommon(done!, level, 'ResponseComplete')
    // The policy decides before impersonation; the impersonated user is known from then on.
    expect(rcv!.user).toEqual(admin)
    expect(done!.user).toEqual(admin)
    expect(done!.impersonatedUser).toEqual({ username: 'alice', groups: ['system:authenticated'] })
    expect(done!.objectRef).toEqual({
      resource: 'configmaps',
      namespace: ns,
      name: 'c1',
      apiVersion: 'v1',
    })
    expect(done!.responseStatus).toEqual({ metadata: {}, code: 200 })
    expect(done!.annotations).toEqual({
      'authorization.k8s.io/decision': 'allow',
      'authorization.k8s.io/reason': `RBAC: allowed by RoleBinding "alice-view/${ns}" of ClusterRole "view" to User "alice"`,
    })
    expect(done!.requestObject).toBeUndefined()
    if (rr) {
      const obj = done!.responseObject as Record<string, any>
      expect(obj).toMatchObject({ kind: 'ConfigMap', metadata: { name: 'c1', namespace: ns } })
      expect(obj.metadata.managedFields).toBeUndefined()
    } else expect(done!.responseObject).toBeUndefined()
  })

  it('records a watch at RequestReceived, ResponseStarted and ResponseComplete', async () => {
    const path = `/api/v1/namespaces/${ns}/configmaps?timeoutSeconds=1&watch=true`
    await server.k('get', '--raw', path)
    const evs = await stagesOf((e) => e.verb === 'watch' && e.objectRef?.namespace === ns, 3)
    expect(evs.map((e) => e.stage)).toEqual(STAGE_ORDER)
    for (const e of evs) {
      checkCommon(e, level, e.stage)
      expect(e.auditID).toBe(evs[0]!.auditID)
      expect(e.requestURI).toBe(path)
      expect(e.user).toEqual(admin)
      expect(e.objectRef).toEqual({ resource: 'configmaps', namespace: ns, apiVersion: 'v1' })
      expect(e.requestObject).toBeUndefined()
      expect(e.responseObject).toBeUndefined()
    }
    expect(evs[1]!.responseStatus).toEqual({ metadata: {}, code: 200 })
    expect(evs[2]!.responseStatus).toEqual({ metadata: {}, code: 200 })
    expect(Date.parse(evs[2]!.stageTimestamp as string)).toBeGreaterThanOrEqual(
      Date.parse(evs[1]!.stageTimestamp as string),
    )
    expect(evs[2]!.annotations).toMatchObject({ 'authorization.k8s.io/decision': 'allow' })
  })
})

describe('audit', () => {
  it('records nothing where the policy says None', async () => {
    await server.k('create', 'configmap', 'quiet', '--from-literal=k=v', '-n', 'default')
    await server.k('get', 'configmap', 'quiet', '-n', 'default')
    await new Promise((r) => setTimeout(r, 1000))
    expect(received().filter((e) => e.objectRef?.name === 'quiet')).toEqual([])
  })

  it("honours the client's Audit-ID and echoes it on the response", async () => {
    const r = await server.request(
      'GET',
      `/api/v1/namespaces/${nsOf('Metadata')}/configmaps/c1`,
      undefined,
      { 'Audit-ID': 'my-audit-id' },
    )
    expect(r.status).toBe(200)
    expect(r.headers['audit-id']).toBe('my-audit-id')
    const evs = await stagesOf((e) => e.auditID === 'my-audit-id', 2)
    expect(evs.map((e) => e.stage)).toEqual(['RequestReceived', 'ResponseComplete'])
    // Every response carries one, audited or not.
    const quiet = await server.request('GET', '/version')
    expect(quiet.headers['audit-id']).toMatch(/^[0-9a-f-]{36}$/)
  })

  it('records a failed authentication once, at ResponseStarted with 401', async () => {
    const r = await server.request(
      'GET',
      `/api/v1/namespaces/${nsOf('Metadata')}/configmaps`,
      undefined,
      { Authorization: 'Bearer not-a-token' },
    )
    expect(r.status).toBe(401)
    const id = r.headers['audit-id'] as string
    const evs = await stagesOf((e) => e.auditID === id, 1)
    await new Promise((r) => setTimeout(r, 500))
    expect(received().filter((e) => e.auditID === id)).toHaveLength(1)
    checkCommon(evs[0]!, 'Metadata', 'ResponseStarted')
    expect(evs[0]!.user).toEqual({})
    expect(evs[0]!.responseStatus).toEqual({
      metadata: {},
      status: 'Failure',
      message: 'Unauthorized',
      reason: 'Unauthorized',
      code: 401,
    })
  })

  it('adds PodSecurity annotations to a pod create', async () => {
    const ns = nsOf('Metadata')
    await server.k('run', 'p1', '--image=busybox', '--restart=Never', '-n', ns)
    const [, done] = await stagesOf(
      (e) => e.verb === 'create' && e.objectRef?.resource === 'pods' && e.objectRef?.name === 'p1',
      2,
    )
    expect(done!.annotations).toMatchObject({
      'authorization.k8s.io/decision': 'allow',
      'pod-security.kubernetes.io/enforce-policy': 'privileged:latest',
    })
  })

  it('posts batched EventLists with the kubeconfig credentials', () => {
    for (const l of lists) {
      expect(l.kind).toBe('EventList')
      expect(l.apiVersion).toBe('audit.k8s.io/v1')
      expect(l.metadata).toEqual({})
      expect(l.items.length).toBeGreaterThan(0)
    }
    // A request's stages within the batch's wait go out together.
    expect(lists.some((l) => l.items.length > 1)).toBe(true)
  })

  it('writes the same events to the log', async () => {
    const logged = await eventually(
      () =>
        isNode
          ? readFileSync(logPath, 'utf8')
          : server.output
              .split('\n')
              .filter((l) => l.startsWith('{"kind":"Event"'))
              .join('\n'),
      (text) => received().every((e) => text.includes(`"auditID":"${e.auditID}"`)),
    )
    const lines = logged.split('\n').filter(Boolean)
    const key = (e: Event) => `${e.auditID}/${e.stage}`
    const fromLog = new Map(lines.map((l) => JSON.parse(l) as Event).map((e) => [key(e), e]))
    for (const e of received()) expect(fromLog.get(key(e))).toEqual(e)
    expect(byRequest(received()).length).toBeGreaterThan(10)
  })
})
