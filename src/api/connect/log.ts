// pods/log: kube's LogREST (pkg/registry/core/pod/rest/log.go) with LogLocation and
// ValidatePodLogOptions: the options checked, the container chosen, and the kubelet's
// /containerLogs streamed back as text/plain (GenericHttpResponseChecker for its failures).
import { badRequest, fieldForbidden, fieldInvalid, invalid, StatusError } from '../../server/errors'
import { KubeletDialError } from '../../kubelet/transport'
import { joinHostPort } from '../../kubelet/node-address'
import {
  chooseContainer,
  kubeletFor,
  parseGoBool,
  parseGoInt,
  plainError,
  storeFor,
  type KubeObject,
} from './kubelet'
import type { ConnectRequest } from './index'

interface PodLogOptions {
  container: string
  follow: boolean
  previous: boolean
  timestamps: boolean
  sinceSeconds?: number
  sinceTime?: Date
  tailLines?: number
  limitBytes?: number
  insecureSkipTLSVerifyBackend: boolean
}

function podLogOptions(q: URLSearchParams): PodLogOptions {
  const sinceTime = q.get('sinceTime')
  let since: Date | undefined
  if (sinceTime) {
    since = new Date(sinceTime)
    if (
      !/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/.test(sinceTime) ||
      isNaN(+since)
    )
      throw badRequest(
        `parsing time ${JSON.stringify(sinceTime)} as "2006-01-02T15:04:05Z07:00": cannot parse ${JSON.stringify(sinceTime)} as "2006"`,
      )
  }
  return {
    container: q.get('container') ?? '',
    follow: parseGoBool('follow', q.get('follow')),
    previous: parseGoBool('previous', q.get('previous')),
    timestamps: parseGoBool('timestamps', q.get('timestamps')),
    sinceSeconds: parseGoInt('sinceSeconds', q.get('sinceSeconds')),
    sinceTime: since,
    tailLines: parseGoInt('tailLines', q.get('tailLines')),
    limitBytes: parseGoInt('limitBytes', q.get('limitBytes')),
    insecureSkipTLSVerifyBackend: parseGoBool(
      'insecureSkipTLSVerifyBackend',
      q.get('insecureSkipTLSVerifyBackend'),
    ),
  }
}

/** ValidatePodLogOptions of kube 1.32. */
function validate(name: string, o: PodLogOptions): void {
  const errs = []
  if (o.tailLines !== undefined && o.tailLines < 0)
    errs.push(fieldInvalid('tailLines', o.tailLines, 'must be greater than or equal to 0'))
  if (o.limitBytes !== undefined && o.limitBytes < 1)
    errs.push(fieldInvalid('limitBytes', o.limitBytes, 'must be greater than 0'))
  if (o.sinceSeconds !== undefined && o.sinceTime !== undefined)
    errs.push(fieldForbidden('', 'at most one of `sinceTime` or `sinceSeconds` may be specified'))
  else if (o.sinceSeconds !== undefined && o.sinceSeconds < 1)
    errs.push(fieldInvalid('sinceSeconds', o.sinceSeconds, 'must be greater than 0'))
  if (errs.length) throw invalid({ group: '', kind: 'PodLogOptions' }, name, errs)
}

/** The kubelet's query, as LogLocation builds it (url.Values.Encode sorts the keys). */
function kubeletQuery(o: PodLogOptions): string {
  const q: [string, string][] = []
  if (o.follow) q.push(['follow', 'true'])
  if (o.limitBytes !== undefined) q.push(['limitBytes', String(o.limitBytes)])
  if (o.previous) q.push(['previous', 'true'])
  if (o.sinceSeconds !== undefined) q.push(['sinceSeconds', String(o.sinceSeconds)])
  if (o.sinceTime) q.push(['sinceTime', o.sinceTime.toISOString().replace(/\.\d+Z$/, 'Z')])
  if (o.tailLines !== undefined) q.push(['tailLines', String(o.tailLines)])
  if (o.timestamps) q.push(['timestamps', 'true'])
  return new URLSearchParams(q).toString()
}

export async function podLog(r: ConnectRequest): Promise<Response> {
  if (r.req.method !== 'GET' && r.req.method !== 'HEAD')
    throw plainError('the server does not allow this method on the requested resource', 405)
  const { namespace, name } = r.info
  const options = podLogOptions(new URL(r.req.url).searchParams)
  validate(name, options)
  const pod: KubeObject = await storeFor(r.registry, r.store, 'pods').get(namespace, name)
  const container = chooseContainer(pod, name, options.container)
  const text = { 'Content-Type': 'text/plain', 'Content-Encoding': 'identity' }
  // A pod not yet on a node has no log: LogLocation gives no location and the stream is empty.
  const nodeName: string = pod.spec?.nodeName ?? ''
  if (!nodeName) return new Response('', { status: 200, headers: text })
  const { node, transport } = await kubeletFor(r.kubelet, r.registry, r.store, nodeName)
  const query = kubeletQuery(options)
  const path = `/containerLogs/${namespace}/${name}/${container}${query ? `?${query}` : ''}`
  let res: Response
  try {
    res = await transport.request(node, {
      method: 'GET',
      path,
      headers: new Headers(),
      body: null,
      signal: r.req.signal,
      insecureSkipTLSVerify: options.insecureSkipTLSVerifyBackend,
    })
  } catch (e) {
    if (e instanceof KubeletDialError)
      throw plainError(`Get "https://${joinHostPort(node.host, node.port)}${path}": ${e.message}`)
    throw e
  }
  if (res.status < 200 || res.status > 206) throw await kubeletFailure(res, 'pods/log', name)
  return new Response(res.body, { status: 200, headers: text })
}

/** GenericHttpResponseChecker.Check: the kubelet's failure as the client sees it. */
export async function kubeletFailure(
  res: Response,
  resource: string,
  name: string,
): Promise<StatusError> {
  const body = (await res.text()).slice(0, 50_000)
  if (res.status === 500) return plainInternal(body)
  if (res.status === 400) return badRequest(body)
  return genericServerResponse(res.status, resource, name, body)
}

function plainInternal(body: string): StatusError {
  return new StatusError(500, 'InternalError', `Internal error occurred: ${body}`, {
    causes: [{ message: body }],
  })
}

/** apierrors.NewGenericServerResponse with an empty verb, as the checker calls it. */
function genericServerResponse(
  code: number,
  resource: string,
  name: string,
  serverMessage: string,
): StatusError {
  const known: Record<number, [string, string]> = {
    409: ['Conflict', 'the server reported a conflict'],
    404: ['NotFound', 'the server could not find the requested resource'],
    400: ['BadRequest', 'the server rejected our request for an unknown reason'],
    401: ['Unauthorized', 'the server has asked for the client to provide credentials'],
    403: ['Forbidden', serverMessage],
    405: ['MethodNotAllowed', 'the server does not allow this method on the requested resource'],
    422: ['Invalid', 'the server rejected our request due to an error in our request'],
    504: [
      'Timeout',
      'the server was unable to return a response in the time allotted, but may still be processing the request',
    ],
    429: [
      'TooManyRequests',
      'the server has received too many requests and has asked us to try again later',
    ],
  }
  let [reason, message] = known[code] ?? [
    '',
    `the server responded with the status code ${code} but did not return more information`,
  ]
  if (!known[code] && code >= 500) {
    reason = 'InternalError'
    message = `an error on the server (${JSON.stringify(serverMessage)}) has prevented the request from succeeding`
  }
  message = `${message} ( ${resource} ${name})`
  return new StatusError(code, reason as never, message, { name, kind: resource })
}
