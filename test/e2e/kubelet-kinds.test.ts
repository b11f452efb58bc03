// The kubelet-facing resources (issue 16, item 1) through the real kubectl: CertificateSigningRequests made by
// openssl, approved and denied with `kubectl certificate`; RuntimeClass and the CSI kinds with kube's defaults and
// columns; pods/binding, bindings and pods/ephemeralcontainers (kubectl debug). pods/eviction under a
// PodDisruptionBudget (kubectl drain) is in disruption.test.ts.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { LocalServer } from './harness'

let server: LocalServer
let keys: string

beforeAll(async () => {
  keys = mkdtempSync(join(tmpdir(), 'kubelet-kinds-'))
  server = await LocalServer.start()
}, 180_000)
afterAll(async () => {
  await server?.dispose()
  rmSync(keys, { recursive: true, force: true })
})

/** A PEM CSR from openssl, base64 as spec.request carries it. */
function opensslCSR(name: string, subject: string, keyType: 'ec' | 'rsa' = 'ec'): string {
  const key = join(keys, `${name}.key`)
  const csr = join(keys, `${name}.csr`)
  if (keyType === 'ec')
    execFileSync('openssl', ['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', key])
  else execFileSync('openssl', ['genrsa', '-out', key, '2048'], { stdio: 'ignore' })
  execFileSync('openssl', ['req', '-new', '-key', key, '-subj', subject, '-out', csr])
  return Buffer.from(readFileSync(csr)).toString('base64')
}

const csrManifest = (
  name: string,
  request: string,
  extra = '',
) => `apiVersion: certificates.k8s.io/v1
kind: CertificateSigningRequest
metadata:
  name: ${name}
spec:
  request: ${request}
  signerName: kubernetes.io/kube-apiserver-client
  usages: [client auth]
${extra}`

const jsonOf = async (...args: string[]) => JSON.parse(await server.k(...args, '-o', 'json'))
const rows = (out: string) =>
  out
    .trim()
    .split('\n')
    .map((l) => l.trim().split(/\s{2,}/))

describe('CertificateSigningRequest', () => {
  it('creates a CSR from an openssl request with kubectl apply, recording who asked', async () => {
    const path = server.file(
      'alice.yaml',
      csrManifest('alice', opensslCSR('alice', '/CN=alice/O=devs'), '  expirationSeconds: 86400'),
    )
    expect(await server.k('apply', '-f', path)).toContain(
      'certificatesigningrequest.certificates.k8s.io/alice created',
    )
    const whoami = await jsonOf('auth', 'whoami')
    const csr = await jsonOf('get', 'csr', 'alice')
    expect(csr.spec.username).toBe(whoami.status.userInfo.username)
    expect(csr.spec.groups).toEqual(whoami.status.userInfo.groups)
    expect(csr.status).toEqual({})
    const [head, row] = rows(await server.k('get', 'csr', 'alice'))
    expect(head).toEqual([
      'NAME',
      'AGE',
      'SIGNERNAME',
      'REQUESTOR',
      'REQUESTEDDURATION',
      'CONDITION',
    ])
    expect(row[0]).toBe('alice')
    expect(row.slice(2)).toEqual([
      'kubernetes.io/kube-apiserver-client',
      whoami.status.userInfo.username,
      '24h',
      'Pending',
    ])
  })

  it('ignores a requester the client claims for itself', async () => {
    const path = server.file(
      'mallory.yaml',
      csrManifest(
        'mallory',
        opensslCSR('mallory', '/CN=mallory', 'rsa'),
        '  username: system:admin\n  groups: [system:masters]',
      ),
    )
    await server.k('apply', '-f', path)
    const csr = await jsonOf('get', 'csr', 'mallory')
    expect(csr.spec.username).not.toBe('system:admin')
    expect(csr.spec.groups).toContain('system:authenticated')
  })

  it('approves through the approval subresource with kubectl certificate approve', async () => {
    expect(await server.k('certificate', 'approve', 'alice')).toContain(
      'certificatesigningrequest.certificates.k8s.io/alice approved',
    )
    const csr = await jsonOf('get', 'csr', 'alice')
    expect(csr.status.conditions).toHaveLength(1)
    expect(csr.status.conditions[0]).toMatchObject({
      type: 'Approved',
      status: 'True',
      reason: 'KubectlApprove',
    })
    expect(csr.status.conditions[0].lastUpdateTime).toMatch(/Z$/)
    expect(csr.status.conditions[0].lastTransitionTime).toMatch(/Z$/)
    // The in-process csrsigning signs an approved kube-apiserver-client request, maybe before this read.
    expect(rows(await server.k('get', 'csr', 'alice'))[1].at(-1)).toMatch(/^Approved(,Issued)?$/)
    const fields = await jsonOf('get', 'csr', 'alice', '--show-managed-fields')
    expect(fields.metadata.managedFields).toContainEqual(
      expect.objectContaining({ manager: 'kubectl', operation: 'Update', subresource: 'approval' }),
    )
  })

  it('denies with kubectl certificate deny, and refuses Approved next to Denied', async () => {
    expect(await server.k('certificate', 'deny', 'mallory')).toContain(
      'certificatesigningrequest.certificates.k8s.io/mallory denied',
    )
    expect(rows(await server.k('get', 'csr', 'mallory'))[1].at(-1)).toBe('Denied')
    const csr = await jsonOf('get', 'csr', 'mallory')
    csr.status.conditions.push({ type: 'Approved', status: 'True', reason: 'Mixed' })
    const r = await server.request(
      'PUT',
      '/apis/certificates.k8s.io/v1/certificatesigningrequests/mallory/approval',
      JSON.stringify(csr),
      { 'Content-Type': 'application/json' },
    )
    expect(r.status).toBe(422)
    expect(JSON.parse(r.body).message).toBe(
      'CertificateSigningRequest.certificates.k8s.io "mallory" is invalid: status.conditions[1].type: Invalid value: "Approved": Approved and Denied conditions are mutually exclusive',
    )
  })

  it('keeps approval and spec out of reach of the main resource and of status', async () => {
    const csr = await jsonOf('get', 'csr', 'alice')
    const put = (path: string, body: unknown) =>
      server.request(
        'PUT',
        `/apis/certificates.k8s.io/v1/certificatesigningrequests/${path}`,
        JSON.stringify(body),
        { 'Content-Type': 'application/json' },
      )
    // The main resource: spec and status stay as they were; metadata changes.
    const main = await put('alice', {
      ...csr,
      metadata: { ...csr.metadata, labels: { team: 'a' } },
      spec: { ...csr.spec, signerName: 'example.com/other' },
      status: { conditions: [] },
    })
    expect(main.status).toBe(200)
    const after = JSON.parse(main.body)
    expect(after.metadata.labels).toEqual({ team: 'a' })
    expect(after.spec.signerName).toBe('kubernetes.io/kube-apiserver-client')
    expect(after.status.conditions[0].type).toBe('Approved')
    // status may set the certificate but not drop the approval (the Approved condition is preserved).
    const status = await put('alice/status', { ...after, status: { conditions: [] } })
    expect(status.status).toBe(422)
    expect(JSON.parse(status.body).message).toContain(
      'status.conditions: Forbidden: updates may not remove a condition of type "Approved"',
    )
    const cert = await put('alice/status', {
      ...after,
      status: { ...after.status, certificate: Buffer.from('not a certificate').toString('base64') },
    })
    expect(cert.status).toBe(422)
    expect(JSON.parse(cert.body).message).toContain(
      'status.certificate: Invalid value: "<certificate data>": must contain at least one CERTIFICATE PEM block',
    )
  })

  it("answers kube's validation errors", async () => {
    const create = (name: string, spec: Record<string, unknown>) =>
      server.request(
        'POST',
        '/apis/certificates.k8s.io/v1/certificatesigningrequests',
        JSON.stringify({
          apiVersion: 'certificates.k8s.io/v1',
          kind: 'CertificateSigningRequest',
          metadata: { name },
          spec,
        }),
        { 'Content-Type': 'application/json' },
      )
    const good = opensslCSR('v', '/CN=v')
    const notPEM = await create('bad-pem', {
      request: Buffer.from('hello').toString('base64'),
      signerName: 'example.com/s',
      usages: ['client auth'],
    })
    expect(notPEM.status).toBe(422)
    expect(JSON.parse(notPEM.body).message).toBe(
      'CertificateSigningRequest.certificates.k8s.io "bad-pem" is invalid: spec.request: Invalid value: []byte{0x68, 0x65, 0x6c, 0x6c, 0x6f}: PEM block type must be CERTIFICATE REQUEST',
    )
    const fields = await create('bad-fields', {
      request: good,
      signerName: 'nodomain',
      usages: ['client auth', 'flying'],
      expirationSeconds: 300,
    })
    expect(fields.status).toBe(422)
    const causes = JSON.parse(fields.body).details.causes.map(
      (c: { field: string; message: string }) => `${c.field}: ${c.message}`,
    )
    expect(causes).toContain(
      'spec.usages[1]: Unsupported value: "flying": supported values: "any", "cert sign", "client auth", "code signing", "content commitment", "crl sign", "data encipherment", "decipher only", "digital signature", "email protection", "encipher only", "ipsec end system", "ipsec tunnel", "ipsec user", "key agreement", "key encipherment", "microsoft sgc", "netscape sgc", "ocsp signing", "s/mime", "server auth", "signing", "timestamping"',
    )
    expect(causes).toContain(
      'spec.signerName: Invalid value: "nodomain": must be a fully qualified domain and path of the form \'example.com/signer-name\'',
    )
    expect(causes).toContain(
      'spec.expirationSeconds: Invalid value: 300: may not specify a duration less than 600 seconds (10 minutes)',
    )
    const none = await create('no-usages', {
      request: good,
      signerName: 'kubernetes.io/legacy-unknown',
    })
    expect(JSON.parse(none.body).message).toBe(
      'CertificateSigningRequest.certificates.k8s.io "no-usages" is invalid: [spec.usages: Required value, spec.signerName: Invalid value: "kubernetes.io/legacy-unknown": the legacy signerName is not allowed via this API version]',
    )
    // A request whose signature does not match its key: one byte of the signature flipped.
    const pem = Buffer.from(good, 'base64').toString()
    const der = Buffer.from(pem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''), 'base64')
    der[der.length - 5] ^= 0xff
    const tampered = `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString('base64').replace(/(.{64})/g, '$1\n')}\n-----END CERTIFICATE REQUEST-----\n`
    const bad = await create('bad-sig', {
      request: Buffer.from(tampered).toString('base64'),
      signerName: 'example.com/s',
      usages: ['client auth'],
    })
    expect(bad.status).toBe(422)
    expect(JSON.parse(bad.body).details.causes[0]).toMatchObject({
      field: 'spec.request',
      reason: 'FieldValueInvalid',
    })
    expect(JSON.parse(bad.body).details.causes[0].message).toMatch(
      /: (x509: ECDSA verification failure|asn1: .*)$/,
    )
  })

  it('approves only for users who may approve for the signer (CertificateApproval)', async () => {
    await server.k(
      'apply',
      '-f',
      server.file(
        'carol.yaml',
        csrManifest('carol', opensslCSR('carol', '/CN=carol')) +
          `---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: csr-approval-writer}
rules:
- {apiGroups: [certificates.k8s.io], resources: [certificatesigningrequests], verbs: [get, list]}
- {apiGroups: [certificates.k8s.io], resources: [certificatesigningrequests/approval], verbs: [update]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: bob-csr-approval-writer}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: csr-approval-writer}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: bob}]
`,
      ),
    )
    const refused = await server.kubectl(['certificate', 'approve', 'carol', '--as=bob'])
    expect(refused.code).not.toBe(0)
    expect(refused.stderr).toContain(
      'certificatesigningrequests.certificates.k8s.io "carol" is forbidden: user not permitted to approve requests with signerName "kubernetes.io/kube-apiserver-client"',
    )
    // The bootstrap approver role for that signer is what is missing.
    const role = await jsonOf(
      'get',
      'clusterrole',
      'system:certificates.k8s.io:kube-apiserver-client-approver',
    )
    expect(role.rules).toEqual([
      {
        apiGroups: ['certificates.k8s.io'],
        resources: ['signers'],
        resourceNames: ['kubernetes.io/kube-apiserver-client'],
        verbs: ['approve'],
      },
    ])
    await server.k(
      'create',
      'clusterrolebinding',
      'bob-approver',
      '--clusterrole=system:certificates.k8s.io:kube-apiserver-client-approver',
      '--user=bob',
    )
    expect(await server.k('certificate', 'approve', 'carol', '--as=bob')).toContain(
      'certificatesigningrequest.certificates.k8s.io/carol approved',
    )
    for (const name of [
      'certificatesigningrequests:nodeclient',
      'certificatesigningrequests:selfnodeclient',
      'kube-apiserver-client-kubelet-approver',
      'kubelet-serving-approver',
      'legacy-unknown-approver',
    ]) {
      expect(
        (await server.kubectl(['get', 'clusterrole', `system:certificates.k8s.io:${name}`])).code,
      ).toBe(0)
    }
  })

  it('issues through status only for users who may sign for the signer (CertificateSigning)', async () => {
    await server.k(
      'apply',
      '-f',
      server.file(
        'signer.yaml',
        `apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: csr-status-writer}
rules:
- {apiGroups: [certificates.k8s.io], resources: [certificatesigningrequests], verbs: [get]}
- {apiGroups: [certificates.k8s.io], resources: [certificatesigningrequests/status], verbs: [get, patch, update]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: dave-csr-status-writer}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: csr-status-writer}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: dave}]
`,
      ),
    )
    const failed = JSON.stringify([
      {
        op: 'add',
        path: '/status/conditions/-',
        value: { type: 'Failed', status: 'True', reason: 'SignerError', message: 'no key' },
      },
    ])
    const refused = await server.kubectl([
      'patch',
      'csr',
      'alice',
      '--subresource=status',
      '--type=json',
      '-p',
      failed,
      '--as=dave',
    ])
    expect(refused.code).not.toBe(0)
    expect(refused.stderr).toContain(
      'certificatesigningrequests.certificates.k8s.io "alice" is forbidden: user not permitted to sign requests with signerName "kubernetes.io/kube-apiserver-client"',
    )
    // The role kube-controller-manager's signer holds: sign for the kubernetes.io signers.
    await server.k(
      'apply',
      '-f',
      server.file(
        'client-signer.yaml',
        `apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: client-signer}
rules: [{apiGroups: [certificates.k8s.io], resources: [signers], resourceNames: [kubernetes.io/*], verbs: [sign]}]
`,
      ),
    )
    await server.k(
      'create',
      'clusterrolebinding',
      'dave-signer',
      '--clusterrole=client-signer',
      '--user=dave',
    )
    await server.k(
      'patch',
      'csr',
      'alice',
      '--subresource=status',
      '--type=json',
      '-p',
      failed,
      '--as=dave',
    )
    expect(rows(await server.k('get', 'csr', 'alice'))[1].at(-1)).toMatch(
      /^Approved,Failed(,Issued)?$/,
    )
  })

  it('refuses a system:masters client certificate request (CertificateSubjectRestriction)', async () => {
    const r = await server.kubectl([
      'create',
      '-f',
      server.file(
        'root.yaml',
        csrManifest('root', opensslCSR('root', '/CN=root/O=system:masters')),
      ),
    ])
    expect(r.code).not.toBe(0)
    expect(r.stderr).toContain(
      'certificatesigningrequests.certificates.k8s.io "root" is forbidden: use of kubernetes.io/kube-apiserver-client signer with system:masters group is not allowed',
    )
  })

  it('is described by kubectl explain', async () => {
    const out = await server.k('explain', 'csr.spec')
    expect(out).toContain('KIND:       CertificateSigningRequest')
    for (const f of ['expirationSeconds', 'request', 'signerName', 'usages', 'username'])
      expect(out).toMatch(new RegExp(`^  ${f}\\s`, 'm'))
  })
})

describe('RuntimeClass and the CSI kinds', () => {
  it('fills in kube defaults and prints the columns kube-apiserver prints', async () => {
    const path = server.file(
      'node-kinds.yaml',
      `apiVersion: node.k8s.io/v1
kind: RuntimeClass
metadata: {name: gvisor}
handler: runsc
---
apiVersion: storage.k8s.io/v1
kind: CSIDriver
metadata: {name: csi.example.com}
spec: {}
---
apiVersion: storage.k8s.io/v1
kind: CSINode
metadata: {name: node-a}
spec:
  drivers:
  - {name: csi.example.com, nodeID: node-a-id, topologyKeys: [topology.example.com/zone]}
---
apiVersion: storage.k8s.io/v1
kind: VolumeAttachment
metadata: {name: va-1}
spec:
  attacher: csi.example.com
  nodeName: node-a
  source: {persistentVolumeName: pv-1}
status: {attached: true}
---
apiVersion: storage.k8s.io/v1
kind: CSIStorageCapacity
metadata: {name: cap-1, namespace: default}
storageClassName: fast
capacity: 10Gi
`,
    )
    await server.k('apply', '-f', path)
    const driver = await jsonOf('get', 'csidriver', 'csi.example.com')
    expect(driver.spec).toEqual({
      attachRequired: true,
      fsGroupPolicy: 'ReadWriteOnceWithFSType',
      podInfoOnMount: false,
      requiresRepublish: false,
      seLinuxMount: false,
      storageCapacity: false,
      volumeLifecycleModes: ['Persistent'],
    })
    expect(await server.k('get', 'csidriver', 'csi.example.com', '-o', 'yaml')).toContain(
      'fsGroupPolicy: ReadWriteOnceWithFSType',
    )
    expect(rows(await server.k('get', 'csidriver'))).toEqual([
      [
        'NAME',
        'ATTACHREQUIRED',
        'PODINFOONMOUNT',
        'STORAGECAPACITY',
        'TOKENREQUESTS',
        'REQUIRESREPUBLISH',
        'MODES',
        'AGE',
      ],
      [
        'csi.example.com',
        'true',
        'false',
        'false',
        '<unset>',
        'false',
        'Persistent',
        expect.stringMatching(/^\d+s$/),
      ],
    ])
    expect(rows(await server.k('get', 'runtimeclass'))).toEqual([
      ['NAME', 'HANDLER', 'AGE'],
      ['gvisor', 'runsc', expect.stringMatching(/^\d+s$/)],
    ])
    expect(rows(await server.k('get', 'csinode'))).toEqual([
      ['NAME', 'DRIVERS', 'AGE'],
      ['node-a', '1', expect.stringMatching(/^\d+s$/)],
    ])
    expect(rows(await server.k('get', 'csistoragecapacity'))).toEqual([
      ['NAME', 'STORAGECLASSNAME', 'CAPACITY'],
      ['cap-1', 'fast', '10Gi'],
    ])
    // A new attachment is not attached, whatever the client says: status is the attacher's to write.
    expect(rows(await server.k('get', 'volumeattachment'))).toEqual([
      ['NAME', 'ATTACHER', 'PV', 'NODE', 'ATTACHED', 'AGE'],
      ['va-1', 'csi.example.com', 'pv-1', 'node-a', 'false', expect.stringMatching(/^\d+s$/)],
    ])
    await server.k(
      'patch',
      'volumeattachment',
      'va-1',
      '--subresource=status',
      '--type=merge',
      '-p',
      '{"status":{"attached":true}}',
    )
    expect(rows(await server.k('get', 'volumeattachment'))[1][4]).toBe('true')
    const all = await server.k(
      'get',
      'csr,runtimeclass,csidriver,csinode,volumeattachment,csistoragecapacity',
    )
    for (const name of [
      'certificatesigningrequest.certificates.k8s.io/alice',
      'runtimeclass.node.k8s.io/gvisor',
      'csidriver.storage.k8s.io/csi.example.com',
      'csinode.storage.k8s.io/node-a',
      'volumeattachment.storage.k8s.io/va-1',
      'csistoragecapacity.storage.k8s.io/cap-1',
    ])
      expect(all).toContain(name)
  })

  it('refuses what kube refuses', async () => {
    const bad = await server.kubectl([
      'create',
      '-f',
      server.file(
        'bad-rc.yaml',
        'apiVersion: node.k8s.io/v1\nkind: RuntimeClass\nmetadata: {name: bad}\nhandler: Not_A_Label\n',
      ),
    ])
    expect(bad.stderr).toContain(
      'The RuntimeClass "bad" is invalid: handler: Invalid value: "Not_A_Label": a lowercase RFC 1123 label must consist of',
    )
    const handler = await server.kubectl([
      'patch',
      'runtimeclass',
      'gvisor',
      '--type=merge',
      '-p',
      '{"handler":"runc"}',
    ])
    expect(handler.stderr).toContain(
      'The RuntimeClass "gvisor" is invalid: handler: Invalid value: "runc": field is immutable',
    )
    const spec = await server.kubectl([
      'patch',
      'volumeattachment',
      'va-1',
      '--type=merge',
      '-p',
      '{"spec":{"nodeName":"node-b"}}',
    ])
    expect(spec.stderr).toContain('The VolumeAttachment "va-1" is invalid: spec: Invalid value:')
    expect(spec.stderr).toContain('field is immutable')
    const modes = await server.kubectl([
      'patch',
      'csidriver',
      'csi.example.com',
      '--type=merge',
      '-p',
      '{"spec":{"volumeLifecycleModes":["Persistent","Sideways"]}}',
    ])
    expect(modes.stderr).toContain(
      'spec.volumeLifecycleModes[1]: Unsupported value: "Sideways": supported values: "Ephemeral", "Persistent"',
    )
  })
})

const POD = (name: string, labels = '{app: db}', node = '') => `apiVersion: v1
kind: Pod
metadata: {name: ${name}, namespace: default, labels: ${labels}}
spec:
  ${node ? `nodeName: ${node}` : ''}
  containers: [{name: main, image: busybox}]
`
const json = { 'Content-Type': 'application/json' }

describe('pods/binding and bindings', () => {
  it('binds an unbound pod to a node and refuses to bind it twice', async () => {
    await server.k(
      'apply',
      '-f',
      server.file(
        'unbound.yaml',
        POD('unbound', '{app: web}') + '---\n' + POD('unbound-2', '{app: web}'),
      ),
    )
    const binding = (name: string, node: string) =>
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Binding',
        metadata: { name, annotations: { 'scheduled-by': 'test' } },
        target: { kind: 'Node', name: node },
      })
    const r = await server.request(
      'POST',
      '/api/v1/namespaces/default/pods/unbound/binding',
      binding('unbound', 'node-a'),
      json,
    )
    expect(r.status).toBe(201)
    expect(JSON.parse(r.body)).toMatchObject({ kind: 'Status', status: 'Success' })
    const pod = await jsonOf('get', 'pod', 'unbound')
    expect(pod.spec.nodeName).toBe('node-a')
    expect(pod.metadata.annotations['scheduled-by']).toBe('test')
    expect(pod.status.conditions).toContainEqual(
      expect.objectContaining({ type: 'PodScheduled', status: 'True' }),
    )
    const again = await server.request(
      'POST',
      '/api/v1/namespaces/default/pods/unbound/binding',
      binding('unbound', 'node-b'),
      json,
    )
    expect(again.status).toBe(409)
    expect(JSON.parse(again.body).message).toBe(
      'Operation cannot be fulfilled on pods/binding "unbound": pod unbound is already assigned to node "node-a"',
    )
    const legacy = await server.request(
      'POST',
      '/api/v1/namespaces/default/bindings',
      binding('unbound-2', 'node-b'),
      json,
    )
    expect(legacy.status).toBe(201)
    expect((await jsonOf('get', 'pod', 'unbound-2')).spec.nodeName).toBe('node-b')
    const mismatch = await server.request(
      'POST',
      '/api/v1/namespaces/default/pods/unbound/binding',
      binding('other', 'node-b'),
      json,
    )
    expect(mismatch.status).toBe(400)
    expect(JSON.parse(mismatch.body).message).toBe(
      'name in URL does not match name in Binding object',
    )
    expect(await server.k('get', 'pods', '-o', 'wide')).toMatch(/^unbound\s.*\snode-a\s/m)
    // ValidatePodBinding's aggregate is not an API status: kube-apiserver answers 500 with its text.
    const noTarget = await server.request(
      'POST',
      '/api/v1/namespaces/default/pods/unbound/binding',
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Binding',
        metadata: { name: 'unbound' },
        target: { kind: 'Pod' },
      }),
      json,
    )
    expect(noTarget.status).toBe(500)
    expect(JSON.parse(noTarget.body).message).toBe(
      '[target.kind: Unsupported value: "Pod": supported values: "Node", "<empty>", target.name: Required value]',
    )
  })
})

describe('pods/ephemeralcontainers', () => {
  it('adds a debug container with kubectl debug and never lets it be removed', async () => {
    await server.k('apply', '-f', server.file('debuggee.yaml', POD('debuggee', '{app: debug}')))
    const out = await server.kubectl([
      'debug',
      'debuggee',
      '--image=busybox',
      '--container=dbg',
      '--target=main',
    ])
    expect(out.code).toBe(0)
    const pod = await jsonOf('get', 'pod', 'debuggee')
    expect(pod.spec.ephemeralContainers).toHaveLength(1)
    expect(pod.spec.ephemeralContainers[0]).toMatchObject({
      name: 'dbg',
      image: 'busybox',
      targetContainerName: 'main',
      terminationMessagePolicy: 'File',
    })
    const got = await server.request(
      'GET',
      '/api/v1/namespaces/default/pods/debuggee/ephemeralcontainers',
    )
    expect(JSON.parse(got.body).kind).toBe('Pod')
    const removed = await server.request(
      'PUT',
      '/api/v1/namespaces/default/pods/debuggee/ephemeralcontainers',
      JSON.stringify({ ...pod, spec: { ...pod.spec, ephemeralContainers: [] } }),
      json,
    )
    expect(removed.status).toBe(422)
    expect(JSON.parse(removed.body).message).toContain(
      'spec.ephemeralContainers: Forbidden: existing ephemeral containers "dbg" may not be removed',
    )
    const ports = await server.request(
      'PATCH',
      '/api/v1/namespaces/default/pods/debuggee/ephemeralcontainers',
      JSON.stringify({
        spec: {
          ephemeralContainers: [{ name: 'web', image: 'nginx', ports: [{ containerPort: 80 }] }],
        },
      }),
      { 'Content-Type': 'application/strategic-merge-patch+json' },
    )
    expect(ports.status).toBe(422)
    expect(JSON.parse(ports.body).message).toMatch(
      /spec\.ephemeralContainers\[\d\]\.ports: Forbidden: cannot be set for an Ephemeral Container/,
    )
  })
})
