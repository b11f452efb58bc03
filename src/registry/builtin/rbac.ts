// rbac.authorization.k8s.io/v1: Role, ClusterRole (default NAME/CREATED AT table), RoleBinding, ClusterRoleBinding.
import {
  fieldInvalid,
  fieldNotSupported,
  fieldRequired,
  type FieldError,
} from '../../server/errors'
import {
  isValidPathSegmentName,
  isValidPathSegmentPrefix,
  type NameValidator,
} from '../validation/names'
import { semanticEqual } from '../validation/equality'
import { child, index } from '../validation/path'
import { col } from '../printers/format'
import type { ResourceType } from '../types'
import { defineKind, printer, type Obj } from './define'

const RBAC_GROUP = 'rbac.authorization.k8s.io'
// ValidateRBACName: any name usable in a URL path.
const rbacName: NameValidator = (name, prefix) =>
  prefix ? isValidPathSegmentPrefix(name) : isValidPathSegmentName(name)

function validateRules(rules: Obj[] | undefined, namespaced: boolean): FieldError[] {
  const errs: FieldError[] = []
  ;(rules ?? []).forEach((r, i) => {
    const p = index('rules', i)
    if (!(r.verbs ?? []).length)
      errs.push(fieldRequired(child(p, 'verbs'), 'verbs must contain at least one value'))
    if ((r.nonResourceURLs ?? []).length) {
      if (namespaced)
        errs.push(
          fieldInvalid(
            child(p, 'nonResourceURLs'),
            r.nonResourceURLs,
            'namespaced rules cannot apply to non-resource URLs',
          ),
        )
      if (
        (r.apiGroups ?? []).length ||
        (r.resources ?? []).length ||
        (r.resourceNames ?? []).length
      ) {
        errs.push(
          fieldInvalid(
            child(p, 'nonResourceURLs'),
            r.nonResourceURLs,
            'rules cannot apply to both regular resources and non-resource URLs',
          ),
        )
      }
      return
    }
    if (!(r.apiGroups ?? []).length)
      errs.push(
        fieldRequired(child(p, 'apiGroups'), 'resource rules must supply at least one api group'),
      )
    if (!(r.resources ?? []).length)
      errs.push(
        fieldRequired(child(p, 'resources'), 'resource rules must supply at least one resource'),
      )
  })
  return errs
}

const SUBJECT_KINDS = ['Group', 'ServiceAccount', 'User']

function validateBinding(b: Obj, roleKinds: string[], namespaced: boolean): FieldError[] {
  const errs: FieldError[] = []
  const ref = b.roleRef ?? {}
  if (ref.apiGroup !== RBAC_GROUP)
    errs.push(fieldNotSupported('roleRef.apiGroup', ref.apiGroup ?? '', [RBAC_GROUP]))
  if (!roleKinds.includes(ref.kind))
    errs.push(fieldNotSupported('roleRef.kind', ref.kind ?? '', roleKinds))
  if (!ref.name) errs.push(fieldRequired('roleRef.name'))
  else
    for (const m of rbacName(ref.name, false)) errs.push(fieldInvalid('roleRef.name', ref.name, m))
  ;((b.subjects ?? []) as Obj[]).forEach((s, i) => {
    const p = index('subjects', i)
    if (!s.name) errs.push(fieldRequired(child(p, 'name')))
    switch (s.kind) {
      case 'ServiceAccount':
        if (s.apiGroup) errs.push(fieldNotSupported(child(p, 'apiGroup'), s.apiGroup, ['']))
        if (!namespaced && !s.namespace) errs.push(fieldRequired(child(p, 'namespace')))
        break
      case 'User':
      case 'Group':
        if (s.apiGroup !== RBAC_GROUP)
          errs.push(fieldNotSupported(child(p, 'apiGroup'), s.apiGroup ?? '', [RBAC_GROUP]))
        break
      default:
        errs.push(fieldNotSupported(child(p, 'kind'), s.kind ?? '', SUBJECT_KINDS))
    }
  })
  return errs
}

function defaultSubjects(b: Obj) {
  // SetDefaults_Subject: users and groups belong to the RBAC group, service accounts to the core group.
  for (const s of (b.subjects ?? []) as Obj[]) {
    if (s.apiGroup === undefined || s.apiGroup === '')
      s.apiGroup =
        s.kind === 'ServiceAccount'
          ? ''
          : s.kind === 'User' || s.kind === 'Group'
            ? RBAC_GROUP
            : s.apiGroup
  }
}

const roleRefChanged = (obj: Obj, old: Obj): FieldError[] =>
  semanticEqual(obj.roleRef, old.roleRef)
    ? []
    : [fieldInvalid('roleRef', obj.roleRef, 'cannot change roleRef')]

/** rbac.SubjectsStrings: users, groups and "namespace/name" service accounts, each comma-space joined. */
function subjectCells(b: Obj): string[] {
  const subjects = (b.subjects ?? []) as Obj[]
  const of = (kind: string) => subjects.filter((s) => s.kind === kind)
  return [
    of('User')
      .map((s) => s.name)
      .join(', '),
    of('Group')
      .map((s) => s.name)
      .join(', '),
    of('ServiceAccount')
      .map((s) => `${s.namespace ?? ''}/${s.name}`)
      .join(', '),
  ]
}

function bindingPrinter(noun: string) {
  return printer(
    [
      col(
        'Role',
        'string',
        'RoleRef can reference a Role in the current namespace or a ClusterRole in the global namespace. If the RoleRef cannot be resolved, the Authorizer must return an error. This field is immutable.',
      ),
    ],
    (o) => [`${o.roleRef?.kind ?? ''}/${o.roleRef?.name ?? ''}`],
    {
      wide: [
        col('Users', 'string', `Users in the ${noun}`, 1),
        col('Groups', 'string', `Groups in the ${noun}`, 1),
        col('ServiceAccounts', 'string', `ServiceAccounts in the ${noun}`, 1),
      ],
      wideCells: subjectCells,
    },
  )
}

export const roles = defineKind({
  group: RBAC_GROUP,
  version: 'v1',
  resource: 'roles',
  kind: 'Role',
  namespaced: true,
  schema: 'RbacV1Role',
  strategy: { validateName: rbacName, validate: (obj) => validateRules(obj.rules as Obj[], true) },
})

export const clusterroles = defineKind({
  group: RBAC_GROUP,
  version: 'v1',
  resource: 'clusterroles',
  kind: 'ClusterRole',
  namespaced: false,
  schema: 'RbacV1ClusterRole',
  // An aggregated ClusterRole's rules are filled in by the aggregation controller.
  strategy: {
    validateName: rbacName,
    validate: (obj) => (obj.aggregationRule ? [] : validateRules(obj.rules as Obj[], false)),
  },
})

export const rolebindings = defineKind({
  group: RBAC_GROUP,
  version: 'v1',
  resource: 'rolebindings',
  kind: 'RoleBinding',
  namespaced: true,
  schema: 'RbacV1RoleBinding',
  strategy: {
    validateName: rbacName,
    defaults: defaultSubjects,
    validate: (obj) => validateBinding(obj, ['ClusterRole', 'Role'], true),
    validateUpdate: (obj, old) => [
      ...roleRefChanged(obj, old),
      ...validateBinding(obj, ['ClusterRole', 'Role'], true),
    ],
    printer: bindingPrinter('roleBinding'),
  },
})

export const clusterrolebindings = defineKind({
  group: RBAC_GROUP,
  version: 'v1',
  resource: 'clusterrolebindings',
  kind: 'ClusterRoleBinding',
  namespaced: false,
  schema: 'RbacV1ClusterRoleBinding',
  strategy: {
    validateName: rbacName,
    defaults: defaultSubjects,
    validate: (obj) => validateBinding(obj, ['ClusterRole'], false),
    validateUpdate: (obj, old) => [
      ...roleRefChanged(obj, old),
      ...validateBinding(obj, ['ClusterRole'], false),
    ],
    printer: bindingPrinter('clusterRoleBinding'),
  },
})

export const rbacResources: ResourceType[] = [
  roles,
  rolebindings,
  clusterroles,
  clusterrolebindings,
]
