// kube-apiserver's validation of a CustomResourceDefinition (apiextensions/validation/validation.go):
// names, versions with exactly one storage version, printer columns, subresources, conversion, and the
// structural schema rules (structural/validation.go) with their messages.
import {
  fieldForbidden,
  fieldInvalid,
  fieldNotSupported,
  fieldRequired,
  type FieldError,
} from '../server/errors'
import { isDNS1035Label, isDNS1123Subdomain } from '../registry/validation/names'
import { validateImmutableField } from '../registry/validation/objectmeta'
import { compileError, estimateExpressionCost } from './schema/cel'
import {
  costErrorMessage,
  costTimes,
  STATIC_ESTIMATED_COST_LIMIT,
  STATIC_ESTIMATED_CRD_COST_LIMIT,
  TotalCost,
  unboundedCardinality,
} from './schema/cel-cost'
import { parseJSONPath } from './jsonpath'
import { isObject, type JSONSchemaProps } from './schema/types'
import { compilePattern, jsonEqual, validateValue } from './schema/validate'
import { prune } from './schema/prune'
import type { CRD, CRDNames, CRDVersion } from './types'
import { errorText } from '../util/errors'

const PRINTER_COLUMN_TYPES = ['boolean', 'date', 'integer', 'number', 'string']
const PRINTER_COLUMN_FORMATS = [
  'byte',
  'date',
  'date-time',
  'double',
  'float',
  'int32',
  'int64',
  'password',
]
const SCHEMA_TYPES = ['array', 'boolean', 'integer', 'number', 'object', 'string']

export function validateCRD(crd: CRD): FieldError[] {
  const errs: FieldError[] = []
  const spec = crd.spec ?? ({} as CRD['spec'])
  const name = crd.metadata?.name ?? ''
  if (name && name !== `${spec.names?.plural}.${spec.group}`)
    errs.push(fieldInvalid('metadata.name', name, 'must be spec.names.plural+"."+spec.group'))
  errs.push(...validateSpec(spec))
  errs.push(...validateNames(crd.status?.acceptedNames ?? {}, 'status.acceptedNames'))
  errs.push(...validateStoredVersions(crd.status?.storedVersions ?? [], spec.versions ?? []))
  return errs
}

export function validateCRDUpdate(crd: CRD, old: CRD): FieldError[] {
  const errs = validateCRD(crd)
  const established = old.status?.conditions?.some(
    (c) => c.type === 'Established' && c.status === 'True',
  )
  if (established) {
    errs.push(...validateImmutableField(crd.spec?.scope, old.spec?.scope, 'spec.scope'))
    errs.push(
      ...validateImmutableField(crd.spec?.names?.kind, old.spec?.names?.kind, 'spec.names.kind'),
    )
  }
  errs.push(...validateImmutableField(crd.spec?.group, old.spec?.group, 'spec.group'))
  errs.push(
    ...validateImmutableField(
      crd.spec?.names?.plural,
      old.spec?.names?.plural,
      'spec.names.plural',
    ),
  )
  return errs
}

function validateStoredVersions(stored: string[], versions: CRDVersion[]): FieldError[] {
  if (!stored.length)
    return [fieldInvalid('status.storedVersions', stored, 'must have at least one stored version')]
  const errs: FieldError[] = []
  const names = new Set(versions.map((v) => v.name))
  for (const v of versions)
    if (v.storage && !stored.includes(v.name))
      errs.push(fieldInvalid('status.storedVersions', v, `must have the storage version ${v.name}`))
  stored.forEach((v, i) => {
    if (!names.has(v))
      errs.push(fieldInvalid(`status.storedVersions[${i}]`, v, 'must appear in spec.versions'))
  })
  return errs
}

function validateSpec(spec: CRD['spec']): FieldError[] {
  const errs: FieldError[] = []
  if (!spec.group) errs.push(fieldRequired('spec.group', ''))
  else {
    const e = isDNS1123Subdomain(spec.group)
    if (e.length) errs.push(fieldInvalid('spec.group', spec.group, e.join(',')))
    else if (spec.group.split('.').length < 2)
      errs.push(fieldInvalid('spec.group', spec.group, 'should be a domain with at least one dot'))
  }
  if (!spec.scope) errs.push(fieldRequired('spec.scope', ''))
  else if (spec.scope !== 'Cluster' && spec.scope !== 'Namespaced')
    errs.push(fieldNotSupported('spec.scope', spec.scope, ['Cluster', 'Namespaced']))

  const versions = spec.versions ?? []
  if (!versions.length)
    errs.push(
      fieldInvalid(
        'spec.versions',
        versions,
        'must have exactly one version marked as storage version',
      ),
    )
  let storage = 0
  const seen = new Set<string>()
  let unique = true
  versions.forEach((v, i) => {
    if (v.storage) storage++
    if (seen.has(v.name)) unique = false
    seen.add(v.name)
    const e = isDNS1035Label(v.name ?? '')
    if (e.length) errs.push(fieldInvalid(`spec.versions[${i}].name`, v.name ?? '', e.join(',')))
  })
  if (!unique)
    errs.push(fieldInvalid('spec.versions', versions, 'must contain unique version names'))
  if (versions.length && storage !== 1)
    errs.push(
      fieldInvalid(
        'spec.versions',
        versions,
        'must have exactly one version marked as storage version',
      ),
    )
  if (versions.length && !versions.some((v) => v.served))
    errs.push(
      fieldInvalid('spec.versions', versions, 'must have at least one version marked as served'),
    )

  const names = spec.names ?? ({} as CRDNames)
  if (!names.plural) errs.push(fieldRequired('spec.names.plural', ''))
  if (!names.singular) errs.push(fieldRequired('spec.names.singular', ''))
  if (!names.kind) errs.push(fieldRequired('spec.names.kind', ''))
  if (!names.listKind) errs.push(fieldRequired('spec.names.listKind', ''))
  errs.push(...validateNames(names, 'spec.names'))

  const conv = spec.conversion
  if (conv) {
    if (conv.strategy !== 'None' && conv.strategy !== 'Webhook')
      errs.push(fieldNotSupported('spec.conversion.strategy', conv.strategy, ['None', 'Webhook']))
    if (conv.strategy === 'Webhook') {
      if (!conv.webhook)
        errs.push(
          fieldRequired('spec.conversion.webhook', 'required when strategy is set to Webhook'),
        )
      else {
        const cc = conv.webhook.clientConfig
        if (!cc)
          errs.push(
            fieldRequired(
              'spec.conversion.webhook.clientConfig',
              'required when strategy is set to Webhook',
            ),
          )
        else if (!cc.url === !cc.service)
          errs.push(
            fieldRequired(
              'spec.conversion.webhook.clientConfig',
              'exactly one of url or service is required',
            ),
          )
        if (!conv.webhook.conversionReviewVersions?.length)
          errs.push(
            fieldRequired(
              'spec.conversion.webhook.conversionReviewVersions',
              'must include at least one of v1, v1beta1',
            ),
          )
      }
    } else if (conv.webhook) {
      errs.push(
        fieldForbidden(
          'spec.conversion.webhook',
          'should not be set when strategy is not set to Webhook',
        ),
      )
    }
  }

  // kube's conversion to the internal version moves a schema all versions share to spec.validation, and
  // validates (and words its errors) there.
  const first = versions[0]?.schema?.openAPIV3Schema
  const shared =
    first !== undefined &&
    versions.every(
      (v) => v.schema?.openAPIV3Schema !== undefined && jsonEqual(v.schema.openAPIV3Schema, first),
    )
  if (shared) errs.push(...validateRootSchema(first, 'spec.validation.openAPIV3Schema'))
  versions.forEach((v, i) => errs.push(...validateVersion(v, `spec.versions[${i}]`, !shared)))
  return errs
}

function validateNames(names: Partial<CRDNames>, path: string): FieldError[] {
  const errs: FieldError[] = []
  const dns = (v: string | undefined, field: string, mixedCase = false) => {
    if (!v) return
    const e = isDNS1035Label(mixedCase ? v.toLowerCase() : v)
    if (e.length)
      errs.push(
        fieldInvalid(
          `${path}.${field}`,
          v,
          (mixedCase ? 'may have mixed case, but should otherwise match: ' : '') + e.join(','),
        ),
      )
  }
  dns(names.plural, 'plural')
  dns(names.singular, 'singular')
  dns(names.kind, 'kind', true)
  dns(names.listKind, 'listKind', true)
  names.shortNames?.forEach((s, i) => {
    const e = isDNS1035Label(s)
    if (e.length) errs.push(fieldInvalid(`${path}.shortNames[${i}]`, s, e.join(',')))
  })
  if (names.kind && names.kind === names.listKind)
    errs.push(
      fieldInvalid(`${path}.listKind`, names.listKind, 'kind and listKind may not be the same'),
    )
  names.categories?.forEach((s, i) => {
    const e = isDNS1035Label(s)
    if (e.length) errs.push(fieldInvalid(`${path}.categories[${i}]`, s, e.join(',')))
  })
  return errs
}

function validateVersion(v: CRDVersion, path: string, ownSchema: boolean): FieldError[] {
  const errs: FieldError[] = []
  const schema = v.schema?.openAPIV3Schema
  if (!schema) errs.push(fieldRequired(`${path}.schema.openAPIV3Schema`, 'schemas are required'))
  else if (ownSchema) errs.push(...validateRootSchema(schema, `${path}.schema.openAPIV3Schema`))

  const scale = v.subresources?.scale
  if (scale) {
    const sp = `${path}.subresources.scale`
    if (!scale.specReplicasPath) errs.push(fieldRequired(`${sp}.specReplicasPath`, ''))
    else if (!scale.specReplicasPath.startsWith('.spec.'))
      errs.push(
        fieldInvalid(
          `${sp}.specReplicasPath`,
          scale.specReplicasPath,
          'should be a json path under .spec',
        ),
      )
    else if (schema && !schemaAt(schema, scale.specReplicasPath, 'integer'))
      errs.push(
        fieldInvalid(
          `${sp}.specReplicasPath`,
          scale.specReplicasPath,
          'should be a json path under .spec',
        ),
      )
    if (!scale.statusReplicasPath) errs.push(fieldRequired(`${sp}.statusReplicasPath`, ''))
    else if (!scale.statusReplicasPath.startsWith('.status.'))
      errs.push(
        fieldInvalid(
          `${sp}.statusReplicasPath`,
          scale.statusReplicasPath,
          'should be a json path under .status',
        ),
      )
    if (scale.labelSelectorPath && !/^\.(spec|status)\./.test(scale.labelSelectorPath)) {
      errs.push(
        fieldInvalid(
          `${sp}.labelSelectorPath`,
          scale.labelSelectorPath,
          'should be a json path under either .spec or .status',
        ),
      )
    }
  }

  v.additionalPrinterColumns?.forEach((c, i) => {
    const cp = `${path}.additionalPrinterColumns[${i}]`
    if (!c.name) errs.push(fieldRequired(`${cp}.name`, ''))
    if (!c.type)
      errs.push(fieldRequired(`${cp}.type`, `must be one of ${PRINTER_COLUMN_TYPES.join(',')}`))
    else if (!PRINTER_COLUMN_TYPES.includes(c.type))
      errs.push(
        fieldInvalid(`${cp}.type`, c.type, `must be one of ${PRINTER_COLUMN_TYPES.join(',')}`),
      )
    if (c.format && !PRINTER_COLUMN_FORMATS.includes(c.format))
      errs.push(
        fieldInvalid(
          `${cp}.format`,
          c.format,
          `must be one of ${PRINTER_COLUMN_FORMATS.join(',')}`,
        ),
      )
    if (!c.jsonPath) errs.push(fieldRequired(`${cp}.jsonPath`, ''))
    else {
      try {
        parseJSONPath(c.jsonPath)
      } catch (e) {
        errs.push(fieldInvalid(`${cp}.jsonPath`, c.jsonPath, `invalid JSONPath: ${errorText(e)}`))
      }
    }
  })

  const selectable = v.selectableFields ?? []
  if (selectable.length > 8)
    errs.push({
      type: 'FieldValueTooMany',
      field: `${path}.selectableFields`,
      badValue: selectable.length,
      detail: `${selectable.length}: must have at most 8 items`,
    })
  const seenPaths = new Set<string>()
  selectable.forEach((f, i) => {
    const fp = `${path}.selectableFields[${i}].jsonPath`
    if (!f.jsonPath) {
      errs.push(fieldRequired(fp, ''))
      return
    }
    if (seenPaths.has(f.jsonPath))
      errs.push({ type: 'FieldValueDuplicate', field: fp, badValue: f.jsonPath })
    seenPaths.add(f.jsonPath)
    if (!f.jsonPath.startsWith('.')) {
      errs.push(fieldInvalid(fp, f.jsonPath, 'must be a simple json path starting with .'))
      return
    }
    if (schema) {
      const target = schemaAt(schema, f.jsonPath)
      if (!target)
        errs.push(
          fieldInvalid(
            fp,
            f.jsonPath,
            'is an invalid path: does not refer to a field in the schema',
          ),
        )
      else if (!['string', 'integer', 'boolean'].includes(target.type ?? '')) {
        errs.push(
          fieldInvalid(
            fp,
            f.jsonPath,
            'selectable field must be of type string, boolean, or integer',
          ),
        )
      }
    }
  })
  return errs
}

/** The schema at a simple JSON path (".spec.replicas"), if the schema declares it (with the given type). */
export function schemaAt(
  root: JSONSchemaProps,
  jsonPath: string,
  type?: string,
): JSONSchemaProps | undefined {
  let s: JSONSchemaProps | undefined = root
  for (const part of jsonPath.replace(/^\./, '').split('.')) {
    s = s?.properties?.[part]
    if (!s) return undefined
  }
  return type && s?.type !== type ? undefined : s
}

// kube's structural schema rules and the OpenAPI v3 subset CRDs may use.
function validateRootSchema(schema: JSONSchemaProps, path: string): FieldError[] {
  const errs: FieldError[] = []
  if (schema.type !== 'object') {
    if (!schema.type) errs.push(fieldRequired(`${path}.type`, 'must not be empty at the root'))
    else errs.push(fieldInvalid(`${path}.type`, schema.type, 'must be object at the root'))
  }
  const total = new TotalCost()
  walkSchema(schema, path, errs, {
    root: true,
    valueValidation: false,
    depth: 0,
    cardinality: 1,
    total,
  })
  if (total.total > STATIC_ESTIMATED_CRD_COST_LIMIT) {
    for (const e of total.mostExpensive) {
      errs.push(
        fieldForbidden(
          e.path,
          'contributed to estimated rule cost total exceeding cost limit for entire OpenAPIv3 schema',
        ),
      )
    }
    errs.push(
      fieldForbidden(
        path,
        costErrorMessage(
          'x-kubernetes-validations estimated rule cost total for entire OpenAPIv3 schema',
          total.total,
          STATIC_ESTIMATED_CRD_COST_LIMIT,
        ),
      ),
    )
  }
  const meta = schema.properties?.metadata
  if (meta) {
    const extra = Object.keys(meta.properties ?? {}).filter(
      (k) => k !== 'name' && k !== 'generateName',
    )
    if (extra.length || (meta.type !== 'object' && meta.type !== undefined)) {
      errs.push(
        fieldForbidden(
          `${path}.properties[metadata]`,
          'must not specify anything other than name and generateName, but metadata is implicitly specified',
        ),
      )
    }
  }
  return errs
}

interface WalkState {
  root: boolean
  valueValidation: boolean
  depth: number
  intOrString?: boolean
  /** How often a value at this node can occur in one object: the product of maxItems/maxProperties above it; null when one is missing. */
  cardinality: number | null
  total?: TotalCost
}

function walkSchema(s: JSONSchemaProps, path: string, errs: FieldError[], st: WalkState): void {
  if (typeof s !== 'object' || s === null) return
  if (st.depth > 100) {
    errs.push(fieldForbidden(path, 'the schema is nested too deeply'))
    return
  }
  // Under x-kubernetes-int-or-string, anyOf/allOf may name the integer and string types (kube's one exception).
  const intOrString = st.valueValidation ? st.intOrString : s['x-kubernetes-int-or-string'] === true
  const next = (
    sub: JSONSchemaProps,
    p: string,
    vv = st.valueValidation,
    cardinality: number | null = st.cardinality,
  ) =>
    walkSchema(sub, p, errs, {
      root: false,
      valueValidation: vv,
      depth: st.depth + 1,
      intOrString: vv && intOrString,
      cardinality,
      total: st.total,
    })
  const times = (max: number | undefined) =>
    st.cardinality === null || max === undefined ? null : costTimes(st.cardinality, max)
  if (s.$ref !== undefined) errs.push(fieldForbidden(`${path}.$ref`, '$ref is not supported'))
  if (s.$schema !== undefined)
    errs.push(fieldForbidden(`${path}.$schema`, '$schema is not supported'))
  if (s.id !== undefined) errs.push(fieldForbidden(`${path}.id`, 'id is not supported'))
  if (s.definitions !== undefined)
    errs.push(fieldForbidden(`${path}.definitions`, 'definitions is not supported'))
  if (s.dependencies !== undefined)
    errs.push(fieldForbidden(`${path}.dependencies`, 'dependencies is not supported'))
  if (s.additionalItems !== undefined)
    errs.push(fieldForbidden(`${path}.additionalItems`, 'additionalItems is not supported'))
  if (s.patternProperties !== undefined)
    errs.push(fieldForbidden(`${path}.patternProperties`, 'patternProperties is not supported'))
  if (s.uniqueItems === true)
    errs.push(
      fieldForbidden(
        `${path}.uniqueItems`,
        'uniqueItems cannot be set to true since the runtime complexity becomes quadratic',
      ),
    )
  if (s.type !== undefined && !SCHEMA_TYPES.includes(s.type))
    errs.push(fieldNotSupported(`${path}.type`, s.type, SCHEMA_TYPES))

  if (!st.valueValidation) {
    const intOrString = s['x-kubernetes-int-or-string'] === true
    const preserve = s['x-kubernetes-preserve-unknown-fields'] === true
    if (!s.type && !intOrString && !preserve && !st.root) {
      errs.push(fieldRequired(`${path}.type`, 'must not be empty for specified object fields'))
    }
    if (s['x-kubernetes-preserve-unknown-fields'] === false) {
      errs.push(
        fieldInvalid(
          `${path}.x-kubernetes-preserve-unknown-fields`,
          false,
          'must be true or undefined',
        ),
      )
    }
    if (intOrString && s.type)
      errs.push(
        fieldInvalid(`${path}.type`, s.type, 'must be empty if x-kubernetes-int-or-string is true'),
      )
    if (s['x-kubernetes-embedded-resource'] && s.type !== 'object') {
      errs.push(
        fieldInvalid(
          `${path}.type`,
          s.type ?? '',
          'must be object if x-kubernetes-embedded-resource is true',
        ),
      )
    }
    if (s.type === 'array' && !s.items)
      errs.push(fieldRequired(`${path}.items`, 'must be specified'))
  } else {
    if (s.type !== undefined && !(st.intOrString && (s.type === 'integer' || s.type === 'string')))
      errs.push(fieldForbidden(`${path}.type`, 'must be empty to be structural'))
    if (s.default !== undefined)
      errs.push(fieldForbidden(`${path}.default`, 'must be undefined to be structural'))
    if (s.nullable !== undefined)
      errs.push(fieldForbidden(`${path}.nullable`, 'must be false to be structural'))
    if (s.additionalProperties !== undefined)
      errs.push(
        fieldForbidden(`${path}.additionalProperties`, 'must be undefined to be structural'),
      )
    if (s['x-kubernetes-preserve-unknown-fields'] !== undefined)
      errs.push(
        fieldForbidden(
          `${path}.x-kubernetes-preserve-unknown-fields`,
          'must be false to be structural',
        ),
      )
    if (s['x-kubernetes-embedded-resource'] !== undefined)
      errs.push(
        fieldForbidden(`${path}.x-kubernetes-embedded-resource`, 'must be false to be structural'),
      )
  }

  if (s.properties && s.additionalProperties !== undefined && s.additionalProperties !== true) {
    errs.push(
      fieldForbidden(
        `${path}.additionalProperties`,
        'additionalProperties and properties are mutual exclusive',
      ),
    )
  }
  const lt = s['x-kubernetes-list-type']
  if (lt !== undefined) {
    if (!['atomic', 'set', 'map'].includes(lt))
      errs.push(fieldNotSupported(`${path}.x-kubernetes-list-type`, lt, ['atomic', 'set', 'map']))
    if (s.type !== 'array')
      errs.push(
        fieldInvalid(`${path}.x-kubernetes-list-type`, lt, 'must only be used if type is array'),
      )
    if (lt === 'map') {
      const keys = s['x-kubernetes-list-map-keys'] ?? []
      if (!keys.length)
        errs.push(
          fieldRequired(
            `${path}.x-kubernetes-list-map-keys`,
            'must not be empty if x-kubernetes-list-type is map',
          ),
        )
      if (s.items && s.items.type !== 'object')
        errs.push(
          fieldInvalid(
            `${path}.items.type`,
            s.items.type ?? '',
            "must be object if parent array's x-kubernetes-list-type is map",
          ),
        )
      for (const k of keys) {
        const ks = s.items?.properties?.[k]
        if (s.items && !ks)
          errs.push(
            fieldInvalid(
              `${path}.x-kubernetes-list-map-keys`,
              keys,
              `entries must all be names of item properties`,
            ),
          )
        else if (
          ks &&
          ks.type &&
          !['string', 'integer', 'boolean'].includes(ks.type) &&
          !ks['x-kubernetes-int-or-string']
        ) {
          errs.push(
            fieldInvalid(
              `${path}.items.properties[${k}].type`,
              ks.type,
              "must be a scalar type if parent array's x-kubernetes-list-type is map",
            ),
          )
        }
      }
    }
  } else if (s['x-kubernetes-list-map-keys'] !== undefined) {
    errs.push(
      fieldInvalid(
        `${path}.x-kubernetes-list-map-keys`,
        s['x-kubernetes-list-map-keys'],
        'must only be used if x-kubernetes-list-type is "map"',
      ),
    )
  }
  if (s.pattern) {
    const c = compilePattern(s.pattern)
    if (!c.ok)
      errs.push(
        fieldInvalid(
          `${path}.pattern`,
          s.pattern,
          `must be a valid regular expression, but isn't: ${c.error}`,
        ),
      )
  }
  if (!st.valueValidation && s.default !== undefined) validateDefault(s, path, errs)
  s['x-kubernetes-validations']?.forEach((r, i) => {
    const rp = `${path}.x-kubernetes-validations[${i}]`
    if (!r.rule) {
      errs.push(fieldRequired(`${rp}.rule`, ''))
      return
    }
    const ce = compileError(r.rule)
    if (ce) errs.push(fieldInvalid(`${rp}.rule`, r.rule, `compilation failed: ${ce}`))
    else if (!st.valueValidation) {
      // getExpressionCost: the rule's cost times how often it can run; without maxItems/maxProperties on the way
      // down, as often as the smallest value of this node fits in a request.
      const cost = costTimes(
        estimateExpressionCost(r.rule, s) ?? 0,
        st.cardinality ?? unboundedCardinality(s),
      )
      if (cost > STATIC_ESTIMATED_COST_LIMIT)
        errs.push(
          fieldForbidden(
            `${rp}.rule`,
            costErrorMessage('estimated rule cost', cost, STATIC_ESTIMATED_COST_LIMIT),
          ),
        )
      st.total?.observe(`${rp}.rule`, cost)
    }
    if (r.messageExpression) {
      const me = compileError(r.messageExpression)
      if (me)
        errs.push(
          fieldInvalid(
            `${rp}.messageExpression`,
            r.messageExpression,
            `messageExpression compilation failed: ${me}`,
          ),
        )
      else if (!st.valueValidation) {
        const cost = estimateExpressionCost(r.messageExpression, s) ?? 0
        if (cost > STATIC_ESTIMATED_COST_LIMIT)
          errs.push(
            fieldForbidden(
              `${rp}.messageExpression`,
              costErrorMessage(
                'estimated messageExpression cost',
                cost,
                STATIC_ESTIMATED_COST_LIMIT,
              ),
            ),
          )
        st.total?.observe(`${rp}.messageExpression`, cost)
      }
    }
    if (r.message !== undefined && !r.message.trim())
      errs.push(fieldRequired(`${rp}.message`, 'message must be non-empty if specified'))
    if (r.message && r.message.includes('\n'))
      errs.push(fieldInvalid(`${rp}.message`, r.message, 'message must not contain line breaks'))
    if (
      r.reason !== undefined &&
      ![
        'FieldValueInvalid',
        'FieldValueForbidden',
        'FieldValueRequired',
        'FieldValueDuplicate',
      ].includes(r.reason)
    ) {
      errs.push(
        fieldNotSupported(`${rp}.reason`, r.reason, [
          'FieldValueDuplicate',
          'FieldValueForbidden',
          'FieldValueInvalid',
          'FieldValueRequired',
        ]),
      )
    }
  })

  for (const [k, sub] of Object.entries(s.properties ?? {})) next(sub, `${path}.properties[${k}]`)
  if (isObject(s.additionalProperties))
    next(
      s.additionalProperties as JSONSchemaProps,
      `${path}.additionalProperties`,
      st.valueValidation,
      times(s.maxProperties),
    )
  if (s.items) {
    if (Array.isArray(s.items))
      errs.push(fieldForbidden(`${path}.items`, 'items must be a schema object and not an array'))
    else next(s.items, `${path}.items`, st.valueValidation, times(s.maxItems))
  }
  s.allOf?.forEach((sub, i) => next(sub, `${path}.allOf[${i}]`, true))
  s.anyOf?.forEach((sub, i) => next(sub, `${path}.anyOf[${i}]`, true))
  s.oneOf?.forEach((sub, i) => next(sub, `${path}.oneOf[${i}]`, true))
  if (s.not) next(s.not, `${path}.not`, true)
}

/** A default must validate against its own schema and must not hold fields pruning would drop. */
function validateDefault(s: JSONSchemaProps, path: string, errs: FieldError[]): void {
  const value = structuredClone(s.default)
  const pruned = prune(value, s, false)
  if (pruned.length) {
    errs.push(
      fieldInvalid(
        `${path}.default`,
        s.default,
        `must not have unknown fields, got: ${pruned.map((p) => p.replace(/^\./, '')).join(', ')}`,
      ),
    )
    return
  }
  const e: FieldError[] = []
  validateValue(s, value, '', e)
  for (const x of e) errs.push(fieldInvalid(`${path}.default`, x.badValue, x.detail ?? ''))
}
