// Which FlowSchema a request matches, as k8s.io/apiserver/pkg/util/flowcontrol/rule.go decides: schemas in
// order of matchingPrecedence (then name), the first whose rules match the request's user and what it
// asks for wins, and its distinguisher names the request's flow.
import type { UserInfo } from '../registry/types'
import type { RequestInfo } from '../server/filters/request-info'

type Obj = Record<string, any>

const SA_PREFIX = 'system:serviceaccount:'

function contains(list: string[] | undefined, value: string, wildcard = '*'): boolean {
  return !!list && (list.includes(wildcard) || list.includes(value))
}

export function matchesSubject(subject: Obj, user: UserInfo): boolean {
  switch (subject?.kind) {
    case 'User':
      return subject.user?.name === '*' || subject.user?.name === user.username
    case 'Group':
      return subject.group?.name === '*' || user.groups.includes(subject.group?.name)
    case 'ServiceAccount': {
      const { name, namespace } = subject.serviceAccount ?? {}
      if (!user.username.startsWith(SA_PREFIX)) return false
      const [ns, sa, ...rest] = user.username.slice(SA_PREFIX.length).split(':')
      if (rest.length || !ns || !sa) return false
      return ns === namespace && (name === '*' || name === sa)
    }
    default:
      return false
  }
}

function matchesResourceRule(rule: Obj, info: RequestInfo): boolean {
  if (!contains(rule.verbs, info.verb)) return false
  if (!contains(rule.apiGroups, info.apiGroup)) return false
  const resource = info.subresource ? `${info.resource}/${info.subresource}` : info.resource
  if (!contains(rule.resources, resource)) return false
  if (!info.namespace) return !!rule.clusterScope
  return contains(rule.namespaces, info.namespace)
}

function matchesNonResourceRule(rule: Obj, info: RequestInfo): boolean {
  if (!contains(rule.verbs, info.verb)) return false
  for (const url of (rule.nonResourceURLs ?? []) as string[]) {
    if (url === '*' || url === info.path) return true
    if (url.endsWith('*') && info.path.startsWith(url.slice(0, -1))) return true
  }
  return false
}

export function matchesPolicyRule(rule: Obj, user: UserInfo, info: RequestInfo): boolean {
  if (!((rule.subjects ?? []) as Obj[]).some((s) => matchesSubject(s, user))) return false
  return info.isResourceRequest
    ? ((rule.resourceRules ?? []) as Obj[]).some((r) => matchesResourceRule(r, info))
    : ((rule.nonResourceRules ?? []) as Obj[]).some((r) => matchesNonResourceRule(r, info))
}

export function matchesFlowSchema(fs: Obj, user: UserInfo, info: RequestInfo): boolean {
  return ((fs.spec?.rules ?? []) as Obj[]).some((r) => matchesPolicyRule(r, user, info))
}

/** The flow distinguisher: the user's name, the request's namespace, or nothing. */
export function flowDistinguisher(fs: Obj, user: UserInfo, info: RequestInfo): string {
  switch (fs.spec?.distinguisherMethod?.type) {
    case 'ByUser':
      return user.username
    case 'ByNamespace':
      return info.namespace
    default:
      return ''
  }
}

/** The evaluation order: ascending matchingPrecedence, ties broken by name. */
export function sortFlowSchemas<T extends Obj>(schemas: T[]): T[] {
  return [...schemas].sort(
    (a, b) =>
      (a.spec?.matchingPrecedence ?? 0) - (b.spec?.matchingPrecedence ?? 0) ||
      (a.metadata?.name < b.metadata?.name ? -1 : a.metadata?.name > b.metadata?.name ? 1 : 0),
  )
}
