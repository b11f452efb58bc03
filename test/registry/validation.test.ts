import { describe, expect, it } from 'vitest'
import { fieldErrorString } from '../../src/server/errors'
import {
  isDNS1035Label,
  isDNS1123Label,
  isDNS1123Subdomain,
  isQualifiedName,
  isValidLabelValue,
  isConfigMapKey,
  isValidPortName,
  nameIsDNSSubdomain,
  validatePathSegmentName,
} from '../../src/registry/validation/names'
import {
  validateObjectMeta,
  validateObjectMetaUpdate,
} from '../../src/registry/validation/objectmeta'

const strings = (errs: Parameters<typeof fieldErrorString>[0][]) => errs.map(fieldErrorString)

describe('name validators', () => {
  it('words a bad DNS-1123 subdomain exactly as kube-apiserver', () => {
    expect(isDNS1123Subdomain('Foo_bar')).toEqual([
      "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')",
    ])
    expect(isDNS1123Subdomain('a'.repeat(254))).toContain('must be no more than 253 characters')
  })

  it('tells a label with dots that it must not contain dots', () => {
    expect(isDNS1123Label('a.b')).toEqual(['must not contain dots'])
    expect(isDNS1123Label('-a')[0]).toBe(
      "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')",
    )
  })

  it('requires a DNS-1035 label to start with a letter', () => {
    expect(isDNS1035Label('1abc')).toEqual([
      "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')",
    ])
    expect(isDNS1035Label('abc-123')).toEqual([])
  })

  it('checks both parts of a qualified name', () => {
    expect(isQualifiedName('example.com/ok')).toEqual([])
    expect(isQualifiedName('/x')).toEqual(['prefix part must be non-empty'])
    expect(isQualifiedName('a/b/c')[0]).toMatch(/^a qualified name must consist of/)
    expect(isQualifiedName('x_')[0]).toMatch(/^name part must consist of alphanumeric characters/)
  })

  it('accepts empty label values and rejects long ones', () => {
    expect(isValidLabelValue('')).toEqual([])
    expect(isValidLabelValue('a'.repeat(64))[0]).toBe('must be no more than 63 characters')
  })

  it('validates config keys, port names and path segments', () => {
    expect(isConfigMapKey('..x')).toContain("must not start with '..'")
    expect(isValidPortName('http')).toEqual([])
    expect(isValidPortName('a--b')).toEqual(['must not contain consecutive hyphens'])
    expect(validatePathSegmentName('a/b', false)).toEqual(["may not contain '/'"])
    expect(validatePathSegmentName('..', false)).toEqual(["may not be '..'"])
  })

  it('lets a generateName prefix end in a dash', () => {
    expect(nameIsDNSSubdomain('web-', true)).toEqual([])
    expect(nameIsDNSSubdomain('web-', false)).not.toEqual([])
  })
})

describe('validateObjectMeta', () => {
  it('requires a name or generateName', () => {
    expect(strings(validateObjectMeta({ namespace: 'default' }, { namespaced: true }))).toEqual([
      'metadata.name: Required value: name or generateName is required',
    ])
  })

  it('requires a namespace for namespaced kinds and forbids it for cluster-scoped ones', () => {
    expect(strings(validateObjectMeta({ name: 'a' }, { namespaced: true }))).toEqual([
      'metadata.namespace: Required value',
    ])
    expect(
      strings(validateObjectMeta({ name: 'a', namespace: 'x' }, { namespaced: false })),
    ).toEqual(['metadata.namespace: Forbidden: not allowed on this type'])
  })

  it('reports a bad name with the kind name rule', () => {
    const errs = strings(
      validateObjectMeta({ name: 'Bad', namespace: 'default' }, { namespaced: true }),
    )
    expect(errs[0]).toMatch(/^metadata\.name: Invalid value: "Bad": a lowercase RFC 1123 subdomain/)
  })

  it('validates label keys and values', () => {
    const errs = strings(
      validateObjectMeta(
        { name: 'a', namespace: 'n', labels: { 'a b': 'ok', k: '-' } },
        { namespaced: true },
      ),
    )
    expect(errs).toHaveLength(2)
    expect(errs[0]).toMatch(/^metadata\.labels: Invalid value: "a b": name part must consist of/)
    expect(errs[1]).toMatch(
      /^metadata\.labels: Invalid value: "-": a valid label must be an empty string/,
    )
  })

  it('caps annotations at 256 KiB in total', () => {
    const errs = strings(
      validateObjectMeta(
        { name: 'a', namespace: 'n', annotations: { big: 'x'.repeat(256 * 1024) } },
        { namespaced: true },
      ),
    )
    expect(errs).toEqual(['metadata.annotations: Too long: may not be more than 262144 bytes'])
  })

  it('checks owner references and finalizers', () => {
    const errs = strings(
      validateObjectMeta(
        {
          name: 'a',
          namespace: 'n',
          ownerReferences: [{ apiVersion: 'v1', kind: 'Pod', name: '', uid: 'u' }],
          finalizers: ['bad finalizer'],
        },
        { namespaced: true },
      ),
    )
    expect(errs[0]).toBe('metadata.ownerReferences.name: Invalid value: "": must not be empty')
    expect(errs[1]).toMatch(/^metadata\.finalizers: Invalid value: "bad finalizer": name part/)
  })
})

describe('validateObjectMetaUpdate', () => {
  const old = { name: 'a', namespace: 'n', uid: 'u1', creationTimestamp: '2024-01-01T00:00:00Z' }
  it('keeps identity and creation time immutable', () => {
    expect(strings(validateObjectMetaUpdate({ ...old, uid: 'u2' }, old))).toEqual([
      'metadata.uid: Invalid value: "u2": field is immutable',
    ])
    expect(
      strings(validateObjectMetaUpdate({ ...old, creationTimestamp: '2025-01-01T00:00:00Z' }, old)),
    ).toEqual([
      'metadata.creationTimestamp: Invalid value: "2025-01-01T00:00:00Z": field is immutable',
    ])
    expect(validateObjectMetaUpdate({ ...old, labels: { a: 'b' } }, old)).toEqual([])
  })

  it('refuses new finalizers on an object being deleted', () => {
    const deleting = { ...old, deletionTimestamp: '2024-01-02T00:00:00Z', finalizers: ['a/b'] }
    expect(
      strings(validateObjectMetaUpdate({ ...deleting, finalizers: ['a/b', 'c/d'] }, deleting)),
    ).toEqual([
      'metadata.finalizers: Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers []string{"c/d"}',
    ])
  })
})
