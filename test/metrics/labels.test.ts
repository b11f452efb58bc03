// The label values kube-apiserver's endpoints/metrics gives a request, and the Go client's number format.
import { describe, expect, it } from 'vitest'
import { requestLabels } from '../../src/metrics/middleware'
import { formatValue, Histogram, Registry } from '../../src/metrics/registry'
import { parseRequestInfo } from '../../src/server/filters/request-info'

function labels(method: string, path: string, headers: Record<string, string> = {}) {
  const url = new URL(`https://host${path}`)
  return requestLabels(new Request(url, { method, headers }), url, parseRequestInfo(method, url))
}

describe('request labels', () => {
  it('reports LIST for a collection GET and GET for one object, with kube scopes', () => {
    expect(labels('GET', '/api/v1/namespaces/default/configmaps')).toMatchObject({
      verb: 'LIST',
      scope: 'namespace',
    })
    expect(labels('GET', '/api/v1/configmaps')).toMatchObject({ verb: 'LIST', scope: 'cluster' })
    expect(labels('GET', '/api/v1/namespaces/default/configmaps/x')).toMatchObject({
      verb: 'GET',
      scope: 'resource',
    })
    expect(labels('HEAD', '/api/v1/namespaces/default/configmaps/x')).toMatchObject({ verb: 'GET' })
    // RequestInfo.Name carries a metadata.name field selector: kube scopes such a list to the resource.
    expect(
      labels('GET', '/api/v1/namespaces/default/configmaps?fieldSelector=metadata.name%3Dx'),
    ).toMatchObject({
      verb: 'GET',
      scope: 'resource',
    })
  })

  it('tells WATCH, APPLY and CONNECT apart, and keeps the HTTP method for other writes', () => {
    expect(labels('GET', '/api/v1/namespaces/default/pods?watch=true').verb).toBe('WATCH')
    expect(labels('GET', '/api/v1/namespaces/default/pods?watch=0').verb).toBe('LIST')
    expect(labels('GET', '/api/v1/watch/namespaces/default/pods').verb).toBe('WATCH')
    expect(
      labels('PATCH', '/api/v1/namespaces/default/pods/p', {
        'content-type': 'application/apply-patch+yaml',
      }).verb,
    ).toBe('APPLY')
    expect(
      labels('PATCH', '/api/v1/namespaces/default/pods/p', {
        'content-type': 'application/merge-patch+json',
      }).verb,
    ).toBe('PATCH')
    expect(labels('POST', '/api/v1/namespaces/default/pods/p/exec').verb).toBe('CONNECT')
    expect(labels('POST', '/api/v1/namespaces/default/pods')).toMatchObject({
      verb: 'POST',
      scope: 'resource',
    })
    expect(labels('PUT', '/api/v1/namespaces/default/pods/p').verb).toBe('PUT')
    expect(labels('DELETE', '/api/v1/namespaces/default/pods')).toMatchObject({
      verb: 'DELETE',
      scope: 'namespace',
    })
    expect(labels('OPTIONS', '/api/v1/namespaces/default/pods').verb).toBe('other')
  })

  it('reports dryRun as kube cleans it, and non-resource paths as the subresource', () => {
    expect(labels('POST', '/api/v1/namespaces/default/pods?dryRun=All').dryRun).toBe('All')
    expect(labels('POST', '/api/v1/namespaces/default/pods?dryRun=All&dryRun=All').dryRun).toBe(
      'All',
    )
    expect(labels('POST', '/api/v1/namespaces/default/pods?dryRun=Some').dryRun).toBe('invalid')
    expect(labels('GET', '/healthz')).toMatchObject({
      verb: 'GET',
      subresource: '/healthz',
      scope: '',
      component: '',
    })
    expect(labels('GET', '/apis')).toMatchObject({
      verb: 'GET',
      subresource: '/apis',
      component: 'apiserver',
    })
  })
})

describe('exposition', () => {
  it("prints numbers as Go's strconv 'g' does", () => {
    expect(formatValue(1e6)).toBe('1e+06')
    expect(formatValue(100000)).toBe('100000')
    expect(formatValue(0.005)).toBe('0.005')
    expect(formatValue(0.00001)).toBe('1e-05')
    expect(formatValue(1234567)).toBe('1.234567e+06')
    expect(formatValue(Infinity)).toBe('+Inf')
  })

  it('renders a histogram with cumulative buckets, labels in name order and le last', () => {
    const r = new Registry()
    const h = r.register(
      new Histogram(
        { name: 'x_seconds', help: 'X.', stability: 'ALPHA', labelNames: ['verb', 'code'] },
        [0.1, 1],
      ),
    )
    h.observe(['GET', '200'], 0.05)
    h.observe(['GET', '200'], 0.5)
    h.observe(['GET', '200'], 5)
    expect(r.render()).toBe(
      [
        '# HELP x_seconds [ALPHA] X.',
        '# TYPE x_seconds histogram',
        'x_seconds_bucket{code="200",verb="GET",le="0.1"} 1',
        'x_seconds_bucket{code="200",verb="GET",le="1"} 2',
        'x_seconds_bucket{code="200",verb="GET",le="+Inf"} 3',
        'x_seconds_sum{code="200",verb="GET"} 5.55',
        'x_seconds_count{code="200",verb="GET"} 3',
        '',
      ].join('\n'),
    )
  })
})
