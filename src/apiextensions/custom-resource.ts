// The resource types a CustomResourceDefinition serves: one per served version, stored under
// /registry/<group>/<plural>/[<ns>/]<name> in the storage version. Requests are pruned, nulls dropped and
// defaults applied as apiextensions-apiserver's decoder does, then validated against the version's
// structural schema, its list types and embedded resources, and its x-kubernetes-validations rules.
// Conversion between versions is "None" (only apiVersion changes) or "Webhook" (conversion/webhook.ts).
import {
  ALL_VERBS,
  type KubeObject,
  type Printer,
  type PrinterColumn,
  type ResourceType,
  type Strategy,
} from '../registry/types'
import { CREATION_TIMESTAMP_DESCRIPTION, nameColumn } from '../registry/printers/format'
import { since } from '../registry/printers/duration'
import { fieldInvalid, type FieldError } from '../server/errors'
import { semanticEqual } from '../registry/validation/equality'
import { finalizeCustomResourceDefinition } from '../controllers/crd-finalizer'
import { evalJSONPath, parseJSONPath } from './jsonpath'
import { applyDefaults, hasDefaults, prune, pruneNonNullableNulls } from './schema/prune'
import { schemaHasRules, validateRules } from './schema/cel'
import { NIL_PATH, validateStructure, validateValue } from './schema/validate'
import type { JSONSchemaProps } from './schema/types'
import { builtinDefinitions } from '../registry/schema/builtin'
import type { JSONSchema, TypeSchema } from '../registry/schema/types'
import {
  isCRDConditionTrue,
  type CRD,
  type CRDVersion,
  type PrinterColumnDefinition,
} from './types'
import { webhookConverter, type ConversionOptions } from './conversion/webhook'

const DEFAULT_COLUMNS: PrinterColumnDefinition[] = [
  {
    name: 'Age',
    type: 'date',
    description: CREATION_TIMESTAMP_DESCRIPTION,
    jsonPath: '.metadata.creationTimestamp',
  },
]

/** A cell as apiextensions-apiserver's table convertor renders it (cellForJSONValue, JSONPath.PrintResults). */
function cell(type: string, value: unknown): unknown {
  if (value === undefined || value === null) return null
  switch (type) {
    case 'string':
      return typeof value === 'object' ? JSON.stringify(value) : String(value)
    case 'integer':
      return typeof value === 'number' ? Math.trunc(value) : null
    case 'number':
      return typeof value === 'number' ? value : null
    case 'boolean':
      return typeof value === 'boolean' ? value : null
    case 'date':
      if (typeof value !== 'string') return null
      return Number.isNaN(Date.parse(value)) ? '<invalid>' : since(value)
  }
  return null
}

export function customResourcePrinter(columns: PrinterColumnDefinition[] | undefined): Printer {
  const cols = columns?.length ? columns : DEFAULT_COLUMNS
  const paths = cols.map((c) => {
    try {
      return parseJSONPath(c.jsonPath)
    } catch {
      return undefined
    }
  })
  return {
    columns: [
      nameColumn,
      ...cols.map((c): PrinterColumn => {
        const col: PrinterColumn = {
          name: c.name,
          type: c.type as PrinterColumn['type'],
          description: c.description ?? '',
        }
        if (c.format) col.format = c.format
        if (c.priority) col.priority = c.priority as 0 | 1
        return col
      }),
    ],
    row(obj) {
      return [
        obj.metadata?.name ?? '',
        ...cols.map((c, i) => {
          const found = paths[i] ? evalJSONPath(paths[i]!, obj) : []
          return found.length ? cell(c.type, found[0]) : null
        }),
      ]
    },
  }
}

function contentOf(obj: KubeObject, withStatus: boolean): unknown {
  const { metadata: _m, apiVersion: _a, kind: _k, status, ...rest } = obj
  return withStatus ? { ...rest, status } : rest
}

/** Strategy of one served version: decoding (prune, default), validation, generation, status. */
function strategy(crd: CRD, v: CRDVersion, schema: JSONSchemaProps | undefined): Strategy {
  const statusEnabled = !!v.subresources?.status
  const preserveUnknown = !!crd.spec.preserveUnknownFields
  const scale = v.subresources?.scale
  const validate = (obj: KubeObject, old?: KubeObject): FieldError[] => {
    if (!schema) return []
    const errs: FieldError[] = []
    validateValue(schema, obj, '', errs)
    validateStructure(schema, obj, '', errs)
    if (scale) errs.push(...validateScale(obj, scale.specReplicasPath, scale.statusReplicasPath))
    if (!schemaHasRules(schema)) return errs
    // CEL rules run only on an object whose types are right (hasBlockingErr).
    if (errs.some((e) => e.type === 'FieldValueTypeInvalid')) {
      errs.push(
        fieldInvalid(
          NIL_PATH,
          'null',
          'some validation rules were not checked because the object was invalid; correct the existing errors to complete validation',
        ),
      )
      return errs
    }
    errs.push(...validateRules(schema, obj, old === undefined ? validateRules.NO_OLD : old))
    return errs
  }
  const selectable: Record<string, (obj: KubeObject) => string | undefined> = {}
  for (const f of v.selectableFields ?? []) {
    const path = parseJSONPath(f.jsonPath)
    selectable[f.jsonPath.replace(/^\./, '')] = (obj) => {
      const found = evalJSONPath(path, obj)[0]
      return found === undefined || found === null ? '' : String(found)
    }
  }
  return {
    // customResourceStrategy.AllowUnconditionalUpdate: false, an update must carry the version it read.
    allowUnconditionalUpdate: false,
    trackGeneration: true,
    specChanged: (obj, old) =>
      !semanticEqual(contentOf(obj, !statusEnabled), contentOf(old, !statusEnabled)),
    defaults(obj) {
      if (!schema) return
      if (!preserveUnknown) {
        prune(obj, schema, true)
        pruneNonNullableNulls(obj, schema)
      }
      applyDefaults(obj, schema)
    },
    prepareForCreate(obj) {
      if (statusEnabled) delete obj.status
    },
    validate: (obj) => validate(obj),
    validateUpdate: (obj, old) => validate(obj, old),
    fieldSelectors: selectable,
    // The last custom resource of a terminating CRD to go (one held by its own finalizers) completes the CRD's cleanup.
    afterDelete: crd.metadata?.deletionTimestamp
      ? (_obj, store) => finalizeCustomResourceDefinition(store, crd.metadata!.name!)
      : undefined,
    printer: customResourcePrinter(v.additionalPrinterColumns),
  }
}

function read(obj: unknown, jsonPath: string): unknown {
  return evalJSONPath(parseJSONPath(jsonPath), obj)[0]
}

// The scale subresource's replicas fields hold integers (customresource/validator.go ValidateScaleSpec/Status).
function validateScale(obj: KubeObject, specPath: string, statusPath: string): FieldError[] {
  const errs: FieldError[] = []
  const check = (path: string) => {
    const v = read(obj, path)
    if (v === undefined) return
    if (typeof v !== 'number' || !Number.isInteger(v))
      errs.push(fieldInvalid(path.slice(1), v, 'should be an integer'))
    else if (v < 0) errs.push(fieldInvalid(path.slice(1), v, 'should be a non-negative integer'))
    else if (v > 2147483647)
      errs.push(fieldInvalid(path.slice(1), v, 'should be less than or equal to 2147483647'))
  }
  check(specPath)
  check(statusPath)
  return errs
}

const OBJECT_META = 'io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta'

/**
 * The schema a version publishes in /openapi/v2 and /openapi/v3 (builder.BuildOpenAPIV3 of apiextensions):
 * named after the reversed group ("io.cert-manager.v1.Certificate"), with apiVersion, kind and metadata as
 * every object has them. Definitions it reaches (ObjectMeta) come from the built-in table.
 */
export function customResourceTypeSchema(
  group: string,
  version: string,
  kind: string,
  schema: JSONSchemaProps | undefined,
): TypeSchema {
  const name = `${group.split('.').reverse().join('.')}.${version}.${kind}`
  const root = structuredClone(
    schema ?? { type: 'object', 'x-kubernetes-preserve-unknown-fields': true },
  ) as JSONSchema
  root.type = 'object'
  root.properties = {
    apiVersion: {
      type: 'string',
      description:
        'APIVersion defines the versioned schema of this representation of an object. Servers should convert recognized schemas to the latest internal value, and may reject unrecognized values. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#resources',
    },
    kind: {
      type: 'string',
      description:
        'Kind is a string value representing the REST resource this object represents. Servers may infer this from the endpoint the client submits requests to. Cannot be updated. In CamelCase. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds',
    },
    metadata: {
      $ref: OBJECT_META,
      description:
        "Standard object's metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata",
    },
    ...root.properties,
  }
  root.properties.metadata = {
    $ref: OBJECT_META,
    description: root.properties.metadata.description,
  }
  const definitions = Object.create(builtinDefinitions()) as Record<string, JSONSchema>
  definitions[name] = root
  return { name, definitions }
}

/**
 * What a conversion webhook returned is pruned against the target version's schema, as apiextensions-apiserver's
 * schema-coercing converter does after every conversion: a field the webhook carried over that the version does
 * not know is not stored or served. Objects the webhook never saw are left alone.
 */
function pruneConverted(
  sent: KubeObject[],
  converted: KubeObject[],
  schema: JSONSchemaProps | undefined,
  crd: CRD,
): KubeObject[] {
  if (!schema || crd.spec.preserveUnknownFields) return converted
  converted.forEach((o, i) => {
    if (o !== sent[i]) prune(o, schema, true)
  })
  return converted
}

/** The storage version's name. */
export function storageVersionOf(crd: CRD): string {
  return crd.spec.versions.find((v) => v.storage)?.name ?? crd.spec.versions[0]?.name
}

/** The types a CRD serves now: none until it is Established; one per served version after. */
export function customResourceTypes(crd: CRD, opts: ConversionOptions = {}): ResourceType[] {
  if (!isCRDConditionTrue(crd, 'Established')) return []
  const names = crd.status?.acceptedNames ?? crd.spec.names
  const group = crd.spec.group
  const storageGV = `${group}/${storageVersionOf(crd)}`
  const webhook =
    crd.spec.conversion?.strategy === 'Webhook' ? webhookConverter(crd, opts) : undefined
  const storageSchema = crd.spec.versions.find((v) => v.storage)?.schema?.openAPIV3Schema
  const types: ResourceType[] = []
  for (const v of crd.spec.versions) {
    if (!v.served) continue
    const gv = `${group}/${v.name}`
    const schema = v.schema?.openAPIV3Schema
    const defaulting = hasDefaults(schema)
    const scale = v.subresources?.scale
    let published: TypeSchema | undefined
    const t: ResourceType = {
      group,
      version: v.name,
      resource: names.plural ?? crd.spec.names.plural,
      kind: names.kind ?? crd.spec.names.kind,
      listKind: names.listKind ?? crd.spec.names.listKind ?? `${crd.spec.names.kind}List`,
      singular: names.singular ?? crd.spec.names.singular ?? crd.spec.names.kind.toLowerCase(),
      namespaced: crd.spec.scope === 'Namespaced',
      verbs: ALL_VERBS,
      storagePrefix: `${group}/${crd.spec.names.plural}`,
      subresources: {
        status: !!v.subresources?.status,
        scale: scale
          ? {
              specReplicasPath: scale.specReplicasPath.replace(/^\./, ''),
              statusReplicasPath: scale.statusReplicasPath.replace(/^\./, ''),
              labelSelectorPath: scale.labelSelectorPath?.replace(/^\./, ''),
            }
          : undefined,
      },
      custom: true,
      storageVersion: storageGV,
      // Objects are stored in the storage version and read in the requested one; defaults apply on read
      // too, after conversion, as apiextensions-apiserver's decoder does for stored objects.
      convert: webhook
        ? undefined
        : {
            toStorage: (obj) => ({ ...obj, apiVersion: storageGV }),
            fromStorage: (obj) => {
              const out = { ...obj, apiVersion: gv }
              if (schema) applyDefaults(out, schema)
              return out
            },
            unchanged: (storedApiVersion) => storedApiVersion === gv && !defaulting,
          },
      convertBatch: webhook
        ? {
            toStorage: async (objs, store) =>
              pruneConverted(objs, await webhook(objs, storageGV, store), storageSchema, crd),
            fromStorage: async (objs, store) => {
              const out = pruneConverted(objs, await webhook(objs, gv, store), schema, crd)
              if (schema) for (const o of out) applyDefaults(o, schema)
              return out
            },
          }
        : undefined,
      strategy: strategy(crd, v, schema),
      schema: () =>
        (published ??= customResourceTypeSchema(group, v.name, crd.spec.names.kind, schema)),
    }
    if (names.shortNames?.length) t.shortNames = names.shortNames
    if (names.categories?.length) t.categories = names.categories
    types.push(t)
  }
  return types
}
