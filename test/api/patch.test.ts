import { thrownStatus } from '../helpers/status'
import { describe, expect, it } from 'vitest'
import { applyPatch, applyPatchWithWarnings, supportedPatchTypes } from '../../src/api/patch'

const deploy = () => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name: 'd', labels: { a: '1' } },
  spec: {
    template: {
      spec: {
        containers: [
          { name: 'a', image: 'a:1' },
          { name: 'b', image: 'b:1' },
        ],
      },
    },
  },
})
const builtin = { builtin: true, group: 'apps', kind: 'Deployment' }

function status(fn: () => unknown) {
  return thrownStatus(() => fn())
}

describe('applyPatch', () => {
  it('dispatches on the content type, ignoring parameters', () => {
    const body = '{"spec":{"template":{"spec":{"containers":[{"name":"b","image":"b:2"}]}}}}'
    const merged = applyPatch('application/merge-patch+json', deploy(), body) as ReturnType<
      typeof deploy
    >
    expect(merged.spec.template.spec.containers).toEqual([{ name: 'b', image: 'b:2' }])
    const smp = applyPatch(
      'application/strategic-merge-patch+json; charset=utf-8',
      deploy(),
      body,
      builtin,
    ) as ReturnType<typeof deploy>
    expect(smp.spec.template.spec.containers).toEqual([
      { name: 'a', image: 'a:1' },
      { name: 'b', image: 'b:2' },
    ])
    const jp = applyPatch(
      'application/json-patch+json',
      deploy(),
      '[{"op":"replace","path":"/metadata/labels/a","value":"2"}]',
    ) as ReturnType<typeof deploy>
    expect(jp.metadata.labels).toEqual({ a: '2' })
  })

  it("answers strategic merge patch on a custom resource with 415 and the CRD handler's list", () => {
    expect(
      status(() =>
        applyPatch('application/strategic-merge-patch+json', {}, '{}', { builtin: false }),
      ),
    ).toEqual({
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message:
        'the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml',
      reason: 'UnsupportedMediaType',
      code: 415,
    })
  })

  it('answers server-side apply and unknown types with 415 and the built-in list', () => {
    for (const ct of ['application/apply-patch+yaml', 'application/json', '']) {
      expect(status(() => applyPatch(ct, deploy(), '{}', builtin)).message).toBe(
        'the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json, application/apply-patch+yaml',
      )
    }
  })

  it('lists the accepted types in installer.go order', () => {
    expect(supportedPatchTypes(true)).toEqual([
      'application/json-patch+json',
      'application/merge-patch+json',
      'application/strategic-merge-patch+json',
      'application/apply-patch+yaml',
    ])
  })

  it('returns strict decoding errors for the caller under fieldValidation=Strict', () => {
    const r = applyPatchWithWarnings(
      'application/strategic-merge-patch+json',
      deploy(),
      '{"metadata":{"name":"d","name":"d"}}',
      { ...builtin, fieldValidation: 'Strict' },
    )
    expect(r.strictErrors).toEqual(['duplicate field "metadata.name"'])
  })
})
