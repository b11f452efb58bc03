// One place that turns a kind's small description into a ResourceType: discovery defaults, the decode
// (schema) step, status and generation handling, and schema field errors merged with the kind's own.
import type { FieldError } from '../../server/errors'
import {
  ALL_VERBS,
  type KubeObject,
  type Printer,
  type PrinterColumn,
  type ResourceType,
  type Strategy,
} from '../types'
import { clone, semanticEqual } from '../validation/equality'
import {
  checkDecodable,
  mergeFieldErrors,
  schemaFieldErrors,
  typeMismatch,
} from '../validation/schema'
import { schemas, type SchemaName } from '../validation/schemas'
import { ageColumn, creationOf, nameColumn, nameOf } from '../printers/format'
import { since } from '../printers/duration'

export type Obj = Record<string, any>

export interface KindDefinition extends Omit<
  ResourceType,
  'listKind' | 'singular' | 'verbs' | 'storagePrefix' | 'strategy' | 'schema'
> {
  listKind?: string
  singular?: string
  verbs?: string[]
  storagePrefix?: string
  /** The kubernetes-models validator for this kind. */
  schema: SchemaName
  /** Go package name of the kind's types, for decode messages (autoscaling/v2: "v2"). */
  goPackage?: string
  /**
   * kube-apiserver sets metadata.generation = 1 on create and bumps it when the spec changes
   * (workloads, Ingress, NetworkPolicy, PDB, HPA, webhooks...). Kinds without it never carry a generation.
   */
  generation?: boolean
  /** The status a create starts from, for kinds with a status subresource (status is reset on create). */
  initialStatus?: (obj: Obj) => unknown
  /** Fields the OpenAPI schema lists as required whose zero value kube-apiserver accepts. */
  schemaOptional?: string[]
  strategy?: Strategy
}

const specOf = (o: KubeObject) => {
  const { metadata: _m, status: _s, apiVersion: _a, kind: _k, ...rest } = o
  return rest
}

export function defineKind(def: KindDefinition): ResourceType {
  const {
    schema: schemaName,
    goPackage,
    generation,
    initialStatus,
    schemaOptional = [],
    strategy: own = {},
    ...rest
  } = def
  const validator = schemas[schemaName]
  const target = { kind: def.kind, version: def.version, goPackage }
  const withSchema = (errs: FieldError[], obj: KubeObject) =>
    mergeFieldErrors(
      errs,
      schemaFieldErrors(validator, obj).filter((e) => !schemaOptional.includes(e.field)),
    )
  const hasStatus = !!def.subresources?.status

  const strategy: Strategy = {
    ...own,
    trackGeneration: !!generation,
    defaults(obj) {
      // Decoding comes before defaulting in kube-apiserver: a value of the wrong JSON type is a 400.
      checkDecodable(validator, obj, target)
      own.defaults?.(obj)
    },
    typeMismatch: (obj) => typeMismatch(validator, obj, target),
    prepareForCreate(obj, ctx) {
      const meta = (obj.metadata ??= {})
      if (generation) meta.generation = 1
      else delete meta.generation
      if (hasStatus) {
        const status = initialStatus?.(obj)
        if (status === undefined) delete obj.status
        else obj.status = status
      }
      own.prepareForCreate?.(obj, ctx)
    },
    prepareForUpdate(obj, old, ctx) {
      const meta = (obj.metadata ??= {})
      if (!generation) delete meta.generation
      if (hasStatus) {
        if (old.status === undefined) delete obj.status
        else obj.status = clone(old.status)
      }
      own.prepareForUpdate?.(obj, old, ctx)
    },
    validate(obj, ctx) {
      return withSchema(own.validate?.(obj, ctx) ?? [], obj)
    },
    validateUpdate(obj, old, ctx) {
      const errs = own.validateUpdate
        ? own.validateUpdate(obj, old, ctx)
        : (own.validate?.(obj, ctx) ?? [])
      return withSchema(errs, obj)
    },
    specChanged:
      own.specChanged ??
      (generation ? (obj, old) => !semanticEqual(specOf(obj), specOf(old)) : () => false),
  }

  return {
    ...rest,
    listKind: def.listKind ?? `${def.kind}List`,
    singular: def.singular ?? def.kind.toLowerCase(),
    verbs: def.verbs ?? ALL_VERBS,
    storagePrefix: def.storagePrefix ?? def.resource,
    strategy,
  }
}

/** A printer whose first column is NAME and, unless said otherwise, whose AGE follows the given columns. */
export function printer(
  columns: PrinterColumn[],
  cells: (obj: Obj, now: number) => unknown[],
  opts: {
    age?: 'after' | 'none' | number
    wide?: PrinterColumn[]
    wideCells?: (obj: Obj) => unknown[]
    name?: (obj: Obj) => string
  } = {},
): Printer {
  const age = opts.age ?? 'after'
  const cols = [nameColumn, ...columns]
  if (typeof age === 'number') cols.splice(age + 1, 0, ageColumn)
  else if (age === 'after') cols.push(ageColumn)
  cols.push(...(opts.wide ?? []))
  return {
    columns: cols,
    row(obj) {
      const now = Date.now()
      const row: unknown[] = [opts.name ? opts.name(obj) : nameOf(obj), ...cells(obj, now)]
      if (typeof age === 'number') row.splice(age + 1, 0, since(creationOf(obj), now))
      else if (age === 'after') row.push(since(creationOf(obj), now))
      row.push(...(opts.wideCells?.(obj) ?? []))
      return row
    },
  }
}

/** Field selector readers: dotted paths stringified the way kube's field sets do. */
export function fieldsAt(
  paths: Record<string, string>,
): Record<string, (obj: KubeObject) => string | undefined> {
  const out: Record<string, (obj: KubeObject) => string | undefined> = {}
  for (const [label, path] of Object.entries(paths)) {
    out[label] = (obj) => {
      const v = path.split('.').reduce<any>((x, k) => (x == null ? undefined : x[k]), obj)
      return v === undefined || v === null ? '' : String(v)
    }
  }
  return out
}
