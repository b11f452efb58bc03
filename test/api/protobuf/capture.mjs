#!/usr/bin/env node
// Captures the protobuf request bodies the real kubectl sends, as fixtures for decode.test.ts.
//
//   npm start -- --port 18471 --state-dir /tmp/pb-state      (in another shell)
//   node test/api/protobuf/capture.mjs --state-dir /tmp/pb-state [--only NAME]
//
// A TLS proxy in front of that server (its serving certificate, so kubectl's kubeconfig CA still verifies)
// passes every request through and saves each application/vnd.kubernetes.protobuf body a scenario sends to
// fixtures/<scenario>.pb (several: <scenario>.<n>.pb). Where kubectl can print the same object as JSON
// (--dry-run=client -o json), that goes to fixtures/<scenario>.json as the expected decoding.
import { execFile } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer, request } from 'node:https'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'

const { values } = parseArgs({
  options: {
    'state-dir': { type: 'string' },
    only: { type: 'string' },
    kubectl: { type: 'string', default: '/usr/bin/kubectl' },
  },
})
const stateDir = values['state-dir']
if (!stateDir) throw new Error('--state-dir of a running npm start is required')
const fixtures = join(dirname(fileURLToPath(import.meta.url)), 'fixtures')
const kubeconfig = readFileSync(join(stateDir, 'kubeconfig'), 'utf8')
const upstream = new URL(/server: (\S+)/.exec(kubeconfig)[1])
const ca = Buffer.from(/certificate-authority-data: (\S+)/.exec(kubeconfig)[1], 'base64')

let current = { name: '', bodies: [] }
const proxy = createServer(
  {
    cert: readFileSync(join(stateDir, 'pki', 'apiserver.crt')),
    key: readFileSync(join(stateDir, 'pki', 'apiserver.key')),
  },
  (req, res) => {
    const chunks = []
    req.on('data', (c) => chunks.push(c))
    req.on('end', () => {
      const body = Buffer.concat(chunks)
      if (process.env.CAPTURE_DEBUG)
        console.error(req.method, req.url, req.headers['content-type'], body.length)
      if ((req.headers['content-type'] ?? '').startsWith('application/vnd.kubernetes.protobuf')) {
        current.bodies.push({ method: req.method, path: req.url, accept: req.headers.accept, body })
      }
      const up = request(
        {
          host: upstream.hostname,
          port: upstream.port,
          method: req.method,
          path: req.url,
          headers: { ...req.headers, host: upstream.host },
          ca,
        },
        (ur) => {
          res.writeHead(ur.statusCode, ur.headers)
          ur.pipe(res)
        },
      )
      up.on('error', (e) => {
        res.writeHead(502)
        res.end(String(e))
      })
      up.end(body)
    })
  },
)
await new Promise((r) => proxy.listen(0, '127.0.0.1', r))

const work = mkdtempSync(join(tmpdir(), 'pb-capture-'))
const proxyConfig = join(work, 'kubeconfig')
writeFileSync(
  proxyConfig,
  kubeconfig.replace(/server: \S+/, `server: https://127.0.0.1:${proxy.address().port}`),
)
// A binaryData file: bytes that are not UTF-8.
const binFile = join(work, 'blob.bin')
writeFileSync(binFile, Buffer.from([0x00, 0xff, 0xfe, 0x80, 0x41, 0x0a]))

// Asynchronous, so that the proxy in this same process keeps serving while kubectl runs.
const kubectl = (args, ok = true, input = '') =>
  new Promise((resolve, reject) => {
    const child = execFile(
      values.kubectl,
      ['--kubeconfig', proxyConfig, `--cache-dir=${join(work, 'cache', String(++runs))}`, ...args],
      { encoding: 'utf8' },
      (err, stdout, stderr) => {
        if (err && ok) reject(new Error(`kubectl ${args.join(' ')}: ${stderr}`))
        else resolve(err ? stderr : stdout)
      },
    )
    child.stdin.end(input)
  })
let runs = 0
/** Flags go before a `--` that starts the container command. */
const withFlags = (args, ...flags) => {
  const i = args.indexOf('--')
  return i < 0 ? [...args, ...flags] : [...args.slice(0, i), ...flags, ...args.slice(i)]
}

const NS = 'pb-fixtures'
const NODE_AND_POD = (pod) =>
  JSON.stringify({
    apiVersion: 'v1',
    kind: 'List',
    items: [
      { apiVersion: 'v1', kind: 'Node', metadata: { name: 'pb-node' } },
      {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: `drained-${pod}`, namespace: NS },
        spec: {
          nodeName: 'pb-node',
          containers: [
            {
              name: 'c',
              image: 'busybox:1.36',
              resources: { limits: { cpu: '100m', memory: '64Mi' } },
            },
          ],
        },
      },
    ],
  })
// name, kubectl args; `json: true` also saves `args --dry-run=client -o json` as the expected object.
const scenarios = [
  { name: 'namespace', args: ['create', 'namespace', NS], json: true },
  {
    name: 'configmap',
    args: [
      'create',
      'configmap',
      'settings',
      '-n',
      NS,
      '--from-literal=mode=fast',
      '--from-literal=empty=',
      `--from-file=blob=${binFile}`,
    ],
    json: true,
  },
  {
    name: 'secret',
    args: [
      'create',
      'secret',
      'generic',
      'creds',
      '-n',
      NS,
      '--from-literal=user=admin',
      '--from-literal=empty=',
      `--from-file=blob=${binFile}`,
    ],
    json: true,
  },
  {
    name: 'secret-docker-registry',
    args: [
      'create',
      'secret',
      'docker-registry',
      'pull',
      '-n',
      NS,
      '--docker-server=registry.example.com',
      '--docker-username=u',
      '--docker-password=p',
    ],
    json: true,
  },
  {
    name: 'deployment',
    args: [
      'create',
      'deployment',
      'web',
      '-n',
      NS,
      '--image=nginx:1.27',
      '--replicas=3',
      '--port=80',
    ],
    json: true,
  },
  {
    name: 'service',
    args: ['create', 'service', 'clusterip', 'web', '-n', NS, '--tcp=80:8080', '--tcp=443:https'],
    json: true,
  },
  {
    name: 'service-nodeport',
    args: ['create', 'service', 'nodeport', 'edge', '-n', NS, '--tcp=80:8080', '--node-port=30080'],
    json: true,
  },
  {
    name: 'job',
    args: ['create', 'job', 'once', '-n', NS, '--image=busybox:1.36', '--', 'echo', 'hi'],
    json: true,
  },
  {
    name: 'cronjob',
    args: [
      'create',
      'cronjob',
      'tick',
      '-n',
      NS,
      '--image=busybox:1.36',
      '--schedule=*/5 * * * *',
      '--restart=OnFailure',
      '--',
      'date',
    ],
    json: true,
  },
  { name: 'serviceaccount', args: ['create', 'serviceaccount', 'robot', '-n', NS], json: true },
  {
    name: 'role',
    args: [
      'create',
      'role',
      'reader',
      '-n',
      NS,
      '--verb=get,list',
      '--resource=pods,configmaps',
      '--resource-name=web',
    ],
    json: true,
  },
  {
    name: 'rolebinding',
    args: [
      'create',
      'rolebinding',
      'readers',
      '-n',
      NS,
      '--clusterrole=view',
      '--user=alice',
      '--group=devs',
      `--serviceaccount=${NS}:robot`,
    ],
    json: true,
  },
  {
    name: 'clusterrole',
    args: [
      'create',
      'clusterrole',
      'pb-aggregate',
      '--aggregation-rule=rbac.example.com/aggregate=true',
    ],
    json: true,
  },
  {
    name: 'clusterrolebinding',
    args: [
      'create',
      'clusterrolebinding',
      'pb-admins',
      '--clusterrole=cluster-admin',
      '--group=admins',
    ],
    json: true,
  },
  {
    name: 'quota',
    args: [
      'create',
      'quota',
      'small',
      '-n',
      NS,
      '--hard=cpu=1500m,memory=1Gi,pods=10',
      '--scopes=NotTerminating',
    ],
    json: true,
  },
  {
    name: 'priorityclass',
    args: [
      'create',
      'priorityclass',
      'pb-high',
      '--value=1000',
      '--description=high',
      '--preemption-policy=Never',
    ],
    json: true,
  },
  {
    name: 'poddisruptionbudget',
    args: [
      'create',
      'poddisruptionbudget',
      'web',
      '-n',
      NS,
      '--selector=app=web',
      '--min-available=50%',
    ],
    json: true,
  },
  {
    name: 'ingress',
    args: [
      'create',
      'ingress',
      'web',
      '-n',
      NS,
      '--class=nginx',
      '--rule=example.com/api*=web:80,tls=web-tls',
      '--annotation=a=b',
    ],
    json: true,
  },
  {
    name: 'token-request',
    args: [
      'create',
      'token',
      'robot',
      '-n',
      NS,
      '--audience=api',
      '--audience=vault',
      '--duration=1h',
    ],
  },
  {
    name: 'token-request-bound',
    args: [
      'create',
      'token',
      'robot',
      '-n',
      NS,
      '--bound-object-kind=Secret',
      '--bound-object-name=pull',
      '--bound-object-uid=6b1f7c4e-1111-4d2a-9c1e-0123456789ab',
    ],
  },
  {
    name: 'self-subject-access-review',
    args: ['auth', 'can-i', 'list', 'pods', '-n', NS, '--subresource=log'],
  },
  { name: 'self-subject-access-review-nonresource', args: ['auth', 'can-i', 'get', '/healthz'] },
  { name: 'self-subject-rules-review', args: ['auth', 'can-i', '--list', '-n', NS] },
  // kubectl delete and scale go through the dynamic client (JSON), and drain's Eviction is JSON too; drain's
  // fallback delete of a pod is the typed client's, with DeleteOptions as protobuf.
  {
    name: 'drain-delete-options',
    setup: NODE_AND_POD('a'),
    args: [
      'drain',
      'pb-node',
      '--force',
      '--disable-eviction',
      '--grace-period=30',
      '--timeout=20s',
    ],
  },
]

const saved = []
for (const s of scenarios) {
  if (values.only && s.name !== values.only) continue
  if (s.setup) await kubectl(['apply', '--validate=false', '-f', '-'], true, s.setup)
  current = { name: s.name, bodies: [] }
  const out = await kubectl(s.args, false)
  if (current.bodies.length === 0) {
    console.log(`${s.name}: no protobuf body (${out.trim()})`)
  }
  current.bodies.forEach((b, i) => {
    const file = current.bodies.length === 1 ? `${s.name}.pb` : `${s.name}.${i}.pb`
    writeFileSync(join(fixtures, file), b.body)
    saved.push(`${file}\t${b.method} ${b.path}\tAccept: ${b.accept}`)
  })
  if (s.json)
    writeFileSync(
      join(fixtures, `${s.name}.json`),
      await kubectl(withFlags(s.args, '--dry-run=client', '-o', 'json')),
    )
}
for (const line of saved) console.log(line)
proxy.close()
rmSync(work, { recursive: true, force: true })
