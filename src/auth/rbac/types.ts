// rbac.authorization.k8s.io/v1 objects as the authorizer reads them from storage.
import type { KubeObject } from '../../registry/types'

export interface PolicyRule {
  verbs: string[]
  apiGroups?: string[]
  resources?: string[]
  resourceNames?: string[]
  nonResourceURLs?: string[]
}

export interface Subject {
  kind: string
  name: string
  namespace?: string
  apiGroup?: string
}

export interface RoleRef {
  apiGroup: string
  kind: string
  name: string
}

export interface LabelSelectorRequirement {
  key: string
  operator: string
  values?: string[]
}
export interface LabelSelector {
  matchLabels?: Record<string, string>
  matchExpressions?: LabelSelectorRequirement[]
}

export interface Role extends KubeObject {
  rules?: PolicyRule[] | null
  aggregationRule?: { clusterRoleSelectors?: LabelSelector[] }
}

export interface Binding extends KubeObject {
  subjects?: Subject[]
  roleRef: RoleRef
}

export const RBAC_GROUP = 'rbac.authorization.k8s.io'
