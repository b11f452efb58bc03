// The kubelet-facing kinds' strategies and validation, one hook at a time (issue 16, item 1).
import { describe, expect, it } from 'vitest'
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fieldErrorString } from '../../src/server/errors'
import { checkSignature, parseCSR } from '../../src/registry/validation/csr'
import { validateSignerName } from '../../src/registry/builtin/certificates'
import { validateEphemeralContainersUpdate } from '../../src/registry/builtin/pod-subresources'
import type { KubeObject, RequestContext } from '../../src/registry/types'
import { create, ctx, kind, update } from './helpers'

const csrs = kind('certificates.k8s.io', 'certificatesigningrequests')
const dir = mkdtempSync(join(tmpdir(), 'csr-unit-'))

function opensslCSR(algorithm: 'ec' | 'rsa' | 'ed25519'): Buffer {
  const key = join(dir, `${algorithm}.key`)
  const args =
    algorithm === 'ec'
      ? ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-384']
      : algorithm === 'rsa'
        ? ['-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048']
        : ['-algorithm', 'ed25519']
  execFileSync('openssl', ['genpkey', ...args, '-out', key], { stdio: 'ignore' })
  execFileSync('openssl', [
    'req',
    '-new',
    '-key',
    key,
    '-subj',
    '/CN=system:node:n1/O=system:nodes',
    '-out',
    join(dir, `${algorithm}.csr`),
  ])
  return readFileSync(join(dir, `${algorithm}.csr`))
}
const PEMS = { ec: opensslCSR('ec'), rsa: opensslCSR('rsa'), ed25519: opensslCSR('ed25519') }
rmSync(dir, { recursive: true, force: true })

const csr = (spec: Record<string, unknown> = {}, status?: Record<string, unknown>): KubeObject => ({
  apiVersion: 'certificates.k8s.io/v1',
  kind: 'CertificateSigningRequest',
  metadata: { name: 'n1' },
  spec: {
    request: PEMS.ec.toString('base64'),
    signerName: 'kubernetes.io/kube-apiserver-client-kubelet',
    usages: ['digital signature', 'client auth'],
    ...spec,
  },
  ...(status ? { status } : {}),
})
const stored = (conditions: unknown[], certificate?: string): KubeObject => ({
  ...csr(),
  metadata: { name: 'n1', uid: 'u', creationTimestamp: '2024-01-01T00:00:00Z' },
  status: { conditions, ...(certificate ? { certificate } : {}) },
})
const errorsOf = (errs: { field: string }[] | undefined) =>
  (errs ?? []).map((e) => fieldErrorString(e as never))
const approval = csrs.subresources!.updates!.approval
const CERT = Buffer.from(
  '-----BEGIN CERTIFICATE-----\nMAMCAQA=\n-----END CERTIFICATE-----\n',
).toString('base64')

describe('CSR requests', () => {
  it('reads the subject of RSA, ECDSA and Ed25519 requests and verifies their signatures', async () => {
    for (const pem of Object.values(PEMS)) {
      const parsed = parseCSR(pem)
      expect(parsed.subject).toEqual([
        { oid: '2.5.4.3', value: 'system:node:n1' },
        { oid: '2.5.4.10', value: 'system:nodes' },
      ])
      await expect(checkSignature(parsed)).resolves.toBeUndefined()
    }
  })

  it("fails a tampered signature with Go's message", async () => {
    const der = Buffer.from(
      PEMS.ec
        .toString()
        .replace(/-----[^-]+-----/g, '')
        .replace(/\s+/g, ''),
      'base64',
    )
    const parsed = parseCSR(
      Buffer.from(
        `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString('base64')}\n-----END CERTIFICATE REQUEST-----\n`,
      ),
    )
    parsed.info[parsed.info.length - 1] ^= 1
    await expect(checkSignature(parsed)).rejects.toThrow('x509: ECDSA verification failure')
    const rsa = parseCSR(PEMS.rsa)
    rsa.info[rsa.info.length - 1] ^= 1
    await expect(checkSignature(rsa)).rejects.toThrow('crypto/rsa: verification error')
  })

  it('wants one CERTIFICATE REQUEST PEM block', () => {
    expect(() =>
      parseCSR(Buffer.from('-----BEGIN CERTIFICATE-----\nMAMCAQA=\n-----END CERTIFICATE-----\n')),
    ).toThrow('PEM block type must be CERTIFICATE REQUEST')
    expect(() => parseCSR(Buffer.from('garbage'))).toThrow(
      'PEM block type must be CERTIFICATE REQUEST',
    )
    expect(() =>
      parseCSR(
        Buffer.from(
          '-----BEGIN CERTIFICATE REQUEST-----\nMAMCAQA=\n-----END CERTIFICATE REQUEST-----\n',
        ),
      ),
    ).toThrow(/^asn1: /)
  })
})

describe('CSR strategy', () => {
  const user: RequestContext = {
    ...ctx,
    user: {
      username: 'system:bootstrap:abcdef',
      uid: 'u-1',
      groups: ['system:bootstrappers', 'system:authenticated'],
      extra: { 'authentication.kubernetes.io/credential-id': ['x'] },
    },
  }

  it('records the requester and starts with an empty status', () => {
    const o = csr(
      { username: 'system:admin', groups: ['system:masters'] },
      { conditions: [{ type: 'Approved', status: 'True' }] },
    )
    csrs.strategy.defaults!(o)
    csrs.strategy.prepareForCreate!(o, user)
    expect(o.spec).toMatchObject({
      username: 'system:bootstrap:abcdef',
      uid: 'u-1',
      groups: ['system:bootstrappers', 'system:authenticated'],
      extra: { 'authentication.kubernetes.io/credential-id': ['x'] },
    })
    expect(create(csrs, csr({ username: 'x' })).obj.spec).not.toHaveProperty('username')
    expect(create(csrs, csr()).errors).toEqual([])
  })

  it('validates usages, signer names and expiration as kube does', () => {
    expect(create(csrs, csr({ usages: [] })).errors).toEqual(['spec.usages: Required value'])
    expect(create(csrs, csr({ usages: ['client auth', 'client auth'] })).errors).toEqual([
      'spec.usages[1]: Duplicate value: "client auth"',
    ])
    expect(create(csrs, csr({ expirationSeconds: 599 })).errors).toEqual([
      'spec.expirationSeconds: Invalid value: 599: may not specify a duration less than 600 seconds (10 minutes)',
    ])
    expect(create(csrs, csr({ expirationSeconds: 600 })).errors).toEqual([])
    expect(create(csrs, csr({ signerName: '' })).errors).toEqual([
      'spec.signerName: Required value',
    ])
  })

  it('checks signer names segment by segment', () => {
    const msgs = (s: string) => errorsOf(validateSignerName('spec.signerName', s))
    expect(msgs('example.com/my-signer')).toEqual([])
    expect(msgs('a/b/c')).toEqual([
      'spec.signerName: Invalid value: "a/b/c": must be a fully qualified domain and path of the form \'example.com/signer-name\'',
    ])
    expect(msgs('example/signer')).toEqual([
      'spec.signerName: Invalid value: "example": should be a domain with at least two segments separated by dots',
    ])
    expect(msgs('Example.com/signer')[0]).toMatch(
      /^spec\.signerName: Invalid value: "Example\.com": validating label "Example": a lowercase RFC 1123 label must consist of/,
    )
    expect(msgs('example.com/Signer')[0]).toMatch(
      /^spec\.signerName: Invalid value: "Signer": validating label "Signer": a lowercase RFC 1123 subdomain must consist of/,
    )
  })

  it('keeps the spec and the approval out of a plain update', () => {
    const old = stored([
      {
        type: 'Approved',
        status: 'True',
        reason: 'r',
        lastUpdateTime: 't',
        lastTransitionTime: 't',
      },
    ])
    const { obj, errors } = update(
      csrs,
      {
        ...old,
        spec: { ...(old.spec as object), signerName: 'example.com/x' },
        status: { conditions: [] },
      },
      old,
    )
    expect((obj.spec as { signerName: string }).signerName).toBe(
      'kubernetes.io/kube-apiserver-client-kubelet',
    )
    expect(errors).toEqual([])
  })

  it('lets the approval subresource set only the conditions, stamping their times', () => {
    const old = stored(
      [
        {
          type: 'Failed',
          status: 'True',
          reason: 'SignerError',
          lastUpdateTime: '2024-01-01T00:00:00Z',
          lastTransitionTime: '2024-01-01T00:00:00Z',
        },
      ],
      CERT,
    )
    const obj = structuredClone(old) as KubeObject & {
      status: { conditions: Record<string, unknown>[]; certificate?: string }
    }
    obj.status.conditions = [
      { type: 'Failed', status: 'True', reason: 'Changed' },
      { type: 'Approved', status: 'True', reason: 'KubectlApprove' },
    ]
    obj.status.certificate = 'bm9wZQ=='
    approval.prepareForUpdate(obj, old, ctx)
    expect(obj.status.certificate).toBe(CERT)
    expect(obj.status.conditions[0]).toMatchObject({
      reason: 'SignerError',
      lastUpdateTime: '2024-01-01T00:00:00Z',
    })
    expect(obj.status.conditions[1]).toMatchObject({
      type: 'Approved',
      lastUpdateTime: expect.stringMatching(/Z$/),
      lastTransitionTime: expect.stringMatching(/Z$/),
    })
    expect(errorsOf(approval.validateUpdate!(obj, old, ctx))).toEqual([])
  })

  it('refuses Approved with Denied, statuses other than True, and removing a decision', () => {
    const old = stored([])
    const both = stored([
      { type: 'Approved', status: 'True' },
      { type: 'Denied', status: 'True' },
    ])
    expect(errorsOf(approval.validateUpdate!(both, old, ctx))).toEqual([
      'status.conditions[1].type: Invalid value: "Denied": Approved and Denied conditions are mutually exclusive',
    ])
    expect(
      errorsOf(approval.validateUpdate!(stored([{ type: 'Approved', status: 'False' }]), old, ctx)),
    ).toEqual(['status.conditions[0].status: Unsupported value: "False": supported values: "True"'])
    expect(
      errorsOf(
        approval.validateUpdate!(stored([]), stored([{ type: 'Denied', status: 'True' }]), ctx),
      ),
    ).toEqual(['status.conditions: Forbidden: updates may not remove a condition of type "Denied"'])
    // Old data that already has both is tolerated (allowBothApprovedAndDenied).
    expect(errorsOf(approval.validateUpdate!(both, both, ctx))).toEqual([])
  })

  it('lets status carry a certificate but not an approval, and the main resource neither', () => {
    const approved = stored([{ type: 'Approved', status: 'True' }])
    const withCert = stored([{ type: 'Approved', status: 'True' }], CERT)
    expect(errorsOf(csrs.strategy.validateStatusUpdate!(withCert, approved, ctx))).toEqual([])
    expect(errorsOf(csrs.strategy.validateUpdate!(withCert, approved, ctx))).toEqual([
      'status.certificate: Forbidden: updates may not set certificate content',
    ])
    expect(
      errorsOf(
        csrs.strategy.validateStatusUpdate!(
          stored([{ type: 'Approved', status: 'True' }], Buffer.from('x').toString('base64')),
          withCert,
          ctx,
        ),
      ),
    ).toEqual([
      'status.certificate: Invalid value: "<certificate data>": must contain at least one CERTIFICATE PEM block',
      'status.certificate: Forbidden: updates may not modify existing certificate content',
    ])
    expect(
      errorsOf(
        csrs.strategy.validateStatusUpdate!(
          stored([{ type: 'Approved', status: 'True' }]),
          stored([]),
          ctx,
        ),
      ),
    ).toEqual(['status.conditions: Forbidden: updates may not add a condition of type "Approved"'])
    // The status strategy keeps old's decision whatever the writer sends.
    const sent = stored([{ type: 'Approved', status: 'True', reason: 'Forged' }], CERT)
    csrs.strategy.prepareForStatusUpdate!(
      sent,
      stored([{ type: 'Approved', status: 'True', reason: 'Real' }]),
    )
    expect((sent.status as { conditions: { reason: string }[] }).conditions[0].reason).toBe('Real')
  })

  it('prints CONDITION as kubectl shows it', () => {
    const row = (o: KubeObject) => csrs.strategy.printer!.row(o).slice(2)
    expect(
      row({
        ...stored([{ type: 'Approved', status: 'True' }], CERT),
        spec: { ...(csr().spec as object), username: 'kubelet', expirationSeconds: 3600 },
      }),
    ).toEqual(['kubernetes.io/kube-apiserver-client-kubelet', 'kubelet', '60m', 'Approved,Issued'])
    expect(
      row(
        stored([
          { type: 'Denied', status: 'True' },
          { type: 'Failed', status: 'True' },
        ]),
      ).at(-1),
    ).toBe('Denied,Failed')
    expect(row(stored([])).slice(-2)).toEqual(['<none>', 'Pending'])
  })
})

describe('node and storage kinds', () => {
  it('defaults a CSIDriver as SetDefaults_CSIDriver does', () => {
    const { obj, errors } = create(kind('storage.k8s.io', 'csidrivers'), {
      metadata: { name: 'csi.example.com' },
      spec: { podInfoOnMount: true },
    })
    expect(errors).toEqual([])
    expect(obj.spec).toEqual({
      attachRequired: true,
      podInfoOnMount: true,
      storageCapacity: false,
      fsGroupPolicy: 'ReadWriteOnceWithFSType',
      volumeLifecycleModes: ['Persistent'],
      requiresRepublish: false,
      seLinuxMount: false,
    })
    expect(
      create(kind('storage.k8s.io', 'csidrivers'), {
        metadata: { name: 'csi.example.com' },
        spec: { fsGroupPolicy: 'Sometimes' },
      }).errors,
    ).toEqual([
      'spec.fsGroupPolicy: Unsupported value: "Sometimes": supported values: "File", "None", "ReadWriteOnceWithFSType"',
    ])
  })

  it('validates CSINode drivers and VolumeAttachment sources', () => {
    const nodes = kind('storage.k8s.io', 'csinodes')
    expect(
      create(nodes, {
        metadata: { name: 'n' },
        spec: {
          drivers: [
            { name: 'd.example.com', nodeID: '' },
            { name: 'd.example.com', nodeID: 'x' },
          ],
        },
      }).errors,
    ).toEqual([
      'spec.drivers[0].nodeID: Required value: nodeID of the node cannot be empty',
      'spec.drivers[1].name: Duplicate value: "d.example.com"',
    ])
    const old = {
      metadata: { name: 'n' },
      spec: { drivers: [{ name: 'd.example.com', nodeID: 'a' }] },
    }
    expect(
      update(
        nodes,
        { metadata: { name: 'n' }, spec: { drivers: [{ name: 'd.example.com', nodeID: 'b' }] } },
        old,
      ).errors,
    ).toEqual(['spec.drivers[0].nodeID: Invalid value: "b": field is immutable'])
    const vas = kind('storage.k8s.io', 'volumeattachments')
    expect(
      create(vas, {
        metadata: { name: 'v' },
        spec: { attacher: 'd.example.com', nodeName: 'n', source: {} },
      }).errors,
    ).toEqual([
      'spec.source: Required value: must specify exactly one of inlineVolumeSpec and persistentVolumeName',
    ])
    expect(
      create(vas, {
        metadata: { name: 'v' },
        spec: { attacher: 'd.example.com', nodeName: 'n', source: { persistentVolumeName: 'pv' } },
        status: { attached: true },
      }).obj.status,
    ).toEqual({ attached: false })
  })

  it('keeps a RuntimeClass handler a DNS label that never changes', () => {
    const rcs = kind('node.k8s.io', 'runtimeclasses')
    expect(create(rcs, { metadata: { name: 'r' }, handler: 'runc' }).errors).toEqual([])
    expect(create(rcs, { metadata: { name: 'r' } }).errors).toEqual(['handler: Required value'])
    expect(
      update(
        rcs,
        { metadata: { name: 'r' }, handler: 'crun' },
        { metadata: { name: 'r' }, handler: 'runc' },
      ).errors,
    ).toEqual(['handler: Invalid value: "crun": field is immutable'])
  })

  it('lets ephemeral containers be added but never changed or removed', () => {
    const pod = (ephemeralContainers: unknown[]) => ({
      spec: { containers: [{ name: 'main', image: 'x' }], ephemeralContainers },
    })
    const dbg = { name: 'dbg', image: 'busybox', resources: {} }
    expect(errorsOf(validateEphemeralContainersUpdate(pod([dbg]), pod([])) as never)).toEqual([])
    expect(errorsOf(validateEphemeralContainersUpdate(pod([]), pod([dbg])) as never)).toEqual([
      'spec.ephemeralContainers: Forbidden: existing ephemeral containers "dbg" may not be removed\n',
    ])
    expect(
      errorsOf(
        validateEphemeralContainersUpdate(pod([{ ...dbg, image: 'alpine' }]), pod([dbg])) as never,
      ),
    ).toEqual([
      'spec.ephemeralContainers: Forbidden: existing ephemeral containers "dbg" may not be changed\n',
    ])
    expect(
      errorsOf(
        validateEphemeralContainersUpdate(
          pod([dbg, { name: 'main', image: 'x', readinessProbe: { exec: { command: ['true'] } } }]),
          pod([dbg]),
        ) as never,
      ),
    ).toEqual([
      'spec.ephemeralContainers[1].name: Duplicate value: "main"',
      'spec.ephemeralContainers[1].readinessProbe: Forbidden: cannot be set for an Ephemeral Container',
    ])
  })
})
