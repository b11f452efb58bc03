// core/v1 LimitRange: no printer in kube-apiserver (the default NAME, CREATED AT table).
import { fieldNotSupported, type FieldError } from '../../server/errors'
import { index } from '../validation/path'
import { defineKind, type Obj } from './define'

const LIMIT_TYPES = ['Container', 'PersistentVolumeClaim', 'Pod']

// SetDefaults_LimitRangeItem: a container's default limit falls back to max, its default request to the limit, then min.
function defaultItem(item: Obj) {
  if (item.type !== 'Container') return
  const fill = (target: 'default' | 'defaultRequest', from: Obj | undefined) => {
    for (const [k, v] of Object.entries(from ?? {})) {
      item[target] ??= {}
      if (!(k in item[target])) item[target][k] = v
    }
  }
  fill('default', item.max)
  fill('defaultRequest', item.default)
  fill('defaultRequest', item.min)
}

export const limitranges = defineKind({
  group: '',
  version: 'v1',
  resource: 'limitranges',
  kind: 'LimitRange',
  namespaced: true,
  shortNames: ['limits'],
  returnDeletedObject: true,
  schema: 'CoreV1LimitRange',
  strategy: {
    defaults(obj) {
      for (const item of ((obj.spec as Obj)?.limits ?? []) as Obj[]) defaultItem(item)
    },
    validate(obj): FieldError[] {
      const errs: FieldError[] = []
      ;(((obj.spec as Obj)?.limits ?? []) as Obj[]).forEach((item, i) => {
        if (!LIMIT_TYPES.includes(item.type))
          errs.push(
            fieldNotSupported(`${index('spec.limits', i)}.type`, item.type ?? '', LIMIT_TYPES),
          )
      })
      return errs
    },
  },
})
