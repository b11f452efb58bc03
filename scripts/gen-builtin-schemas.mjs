#!/usr/bin/env node
// Writes src/registry/schema/builtin-definitions.json: the OpenAPI definitions of the built-in kinds we
// serve, derived from kubernetes-models, the library whose precompiled validators check those kinds
// (src/registry/validation/schemas.ts). No npm package ships Kubernetes' OpenAPI definitions as data for
// a recent release, so the structure comes from the library's type declarations (property names,
// required, enums, references, maps, lists) and the integer/format details from probing its validators.
// The descriptions are kube's own (the API's Go doc comments, which kubernetes-models carries as the
// declarations' doc comments) and go to a second file, src/registry/schema/builtin-descriptions.json, keyed
// "<definition>" and "<definition>.<field>" (list kinds included): kubectl explain prints them.
//
//   node scripts/gen-builtin-schemas.mjs          regenerate
//   node scripts/gen-builtin-schemas.mjs --check  exit 1 when the file is out of date (run by the tests)
import { readdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import ts from 'typescript'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const OUT = join(root, 'src/registry/schema/builtin-definitions.json')
const DESCRIPTIONS_OUT = join(root, 'src/registry/schema/builtin-descriptions.json')
const MODELS = join(root, 'node_modules/kubernetes-models')
const APIMACHINERY = join(root, 'node_modules/@kubernetes-models/apimachinery')

// The kinds published beyond those validated in schemas.ts: the review kinds, TokenRequest, Scale and the
// meta kinds the API answers with.
const EXTRA_ROOTS = [
  'io.k8s.api.authentication.v1.TokenReview', 'io.k8s.api.authentication.v1.TokenRequest',
  'io.k8s.api.authentication.v1.SelfSubjectReview', 'io.k8s.api.authorization.v1.SubjectAccessReview',
  'io.k8s.api.authorization.v1.SelfSubjectAccessReview', 'io.k8s.api.authorization.v1.LocalSubjectAccessReview',
  'io.k8s.api.authorization.v1.SelfSubjectRulesReview', 'io.k8s.api.autoscaling.v1.Scale',
  'io.k8s.apimachinery.pkg.apis.meta.v1.Status', 'io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions',
  'io.k8s.apimachinery.pkg.apis.meta.v1.WatchEvent', 'io.k8s.apimachinery.pkg.apis.meta.v1.Patch',
  'io.k8s.apimachinery.pkg.apis.meta.v1.APIResourceList', 'io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta',
]

// Aliases in the declarations (string | number and the like) that Kubernetes publishes as named schemas.
const SCALARS = {
  'io.k8s.apimachinery.pkg.util.intstr.IntOrString': { type: 'string', format: 'int-or-string', 'x-kubernetes-int-or-string': true },
  'io.k8s.apimachinery.pkg.api.resource.Quantity': { type: 'string', format: 'quantity' },
  'io.k8s.apimachinery.pkg.apis.meta.v1.Time': { type: 'string', format: 'date-time' },
  'io.k8s.apimachinery.pkg.apis.meta.v1.MicroTime': { type: 'string', format: 'date-time' },
  'io.k8s.apimachinery.pkg.apis.meta.v1.FieldsV1': { type: 'object' },
  'io.k8s.apimachinery.pkg.apis.meta.v1.Patch': { type: 'object' },
  'io.k8s.apimachinery.pkg.runtime.RawExtension': { type: 'object' },
}

function walk(dir, out = []) {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name)
    if (e.isDirectory()) { if (e.name !== '_schemas' && e.name !== 'node_modules') walk(p, out) }
    else if (e.name.endsWith('.d.ts') && e.name !== 'index.d.ts') out.push(p)
  }
  return out
}

// kubernetes-models/apps/v1/DeploymentSpec.d.ts → io.k8s.api.apps.v1.DeploymentSpec
function definitionName(file) {
  const name = file.split('/').pop().replace(/\.d\.ts$/, '')
  if (file.startsWith(APIMACHINERY)) {
    const dir = relative(APIMACHINERY, dirname(file)).split('/').join('.')
    return `io.k8s.apimachinery.pkg.${dir}.${name}`
  }
  const parts = relative(MODELS, dirname(file)).split('/')
  if (parts.length === 1) return `io.k8s.api.core.${parts[0]}.${name}`
  const [group, version] = parts
  if (group === 'apiextensions.k8s.io') return `io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.${version}.${name}`
  if (group === 'apiregistration.k8s.io') return `io.k8s.kube-aggregator.pkg.apis.apiregistration.${version}.${name}`
  return `io.k8s.api.${group.split('.')[0]}.${version}.${name}`
}

const files = [...walk(MODELS), ...walk(APIMACHINERY)]
const byAlias = new Map() // IIoK8s... → { file, name, local }
const byFile = new Map()
for (const file of files) {
  const text = readFileSync(file, 'utf8')
  const m = /export type \{ (I\w+) as (IIoK8s\w+)/.exec(text)
  if (!m) continue
  const info = { file, name: definitionName(file), local: m[1], alias: m[2], text }
  byAlias.set(m[2], info)
  byFile.set(file, info)
}
const schemaFile = (alias) => join(alias.startsWith('IIoK8sApimachinery') ? APIMACHINERY : MODELS, '_schemas', alias.slice(1) + '.js')

function typeOf(node, info, refs) {
  switch (node.kind) {
    case ts.SyntaxKind.StringKeyword: return { type: 'string' }
    case ts.SyntaxKind.NumberKeyword: return { type: 'number' }
    case ts.SyntaxKind.BooleanKeyword: return { type: 'boolean' }
    case ts.SyntaxKind.AnyKeyword: case ts.SyntaxKind.UnknownKeyword: case ts.SyntaxKind.ObjectKeyword: return {}
    case ts.SyntaxKind.IndexedAccessType: return { type: 'string' }
    case ts.SyntaxKind.LiteralType: return { type: 'string', enum: [node.literal.text] }
    case ts.SyntaxKind.UnionType: {
      const lits = node.types.filter((t) => t.kind === ts.SyntaxKind.LiteralType)
      if (lits.length === node.types.length) return { type: 'string', enum: lits.map((t) => t.literal.text) }
      return {}
    }
    case ts.SyntaxKind.TypeLiteral: {
      const index = node.members.find((m) => m.kind === ts.SyntaxKind.IndexSignature)
      if (index) return { type: 'object', additionalProperties: typeOf(index.type, info, refs) }
      return { type: 'object' }
    }
    case ts.SyntaxKind.TypeReference: {
      const name = node.typeName.getText(info.source)
      if (name === 'Array') return { type: 'array', items: typeOf(node.typeArguments[0], info, refs) }
      let target = byAlias.get(name)
      // A reference to a type of the same directory by its local name (IJSONSchemaProps in itself).
      if (!target && name.startsWith('I')) target = byFile.get(join(dirname(info.file), name.slice(1) + '.d.ts'))
      if (!target) throw new Error(`${info.name}: unknown type ${name}`)
      refs.add(target.alias)
      return { $ref: target.name }
    }
  }
  throw new Error(`${info.name}: unsupported type ${ts.SyntaxKind[node.kind]}`)
}

// The text of the /** */ comment right before a node, its " * " margins removed (an indented line, such as
// an item of "Possible enum values:", keeps the spaces after the margin, as kube's text has them).
function docOf(node, source) {
  const ranges = ts.getLeadingCommentRanges(source.text, node.getFullStart()) ?? []
  const last = ranges.filter((r) => source.text.startsWith('/**', r.pos)).pop()
  if (!last) return undefined
  const body = source.text.slice(last.pos + 3, last.end - 2)
  const lines = body.split('\n').map((l) => l.replace(/^\s*\* ?/, '').replace(/\s+$/, ''))
  const text = lines.join('\n').replace(/^\n+|\n+$/g, '')
  return text || undefined
}

const descriptions = {}

// A kind's declaration pins apiVersion and kind to literals and drops their doc comments; kube describes them
// as TypeMeta does everywhere, which meta/v1 Status, whose are plain strings, still carries.
const TYPE_META_DOCS = (() => {
  const info = byAlias.get('IIoK8sApimachineryPkgApisMetaV1Status')
  const source = ts.createSourceFile(info.file, info.text, ts.ScriptTarget.Latest, true)
  const out = {}
  source.forEachChild((n) => {
    if (!ts.isInterfaceDeclaration(n)) return
    for (const m of n.members) if (ts.isPropertySignature(m) && ['apiVersion', 'kind'].includes(m.name.text)) out[m.name.text] = docOf(m, source)
  })
  return out
})()

async function definitionOf(info, refs) {
  info.source = ts.createSourceFile(info.file, info.text, ts.ScriptTarget.Latest, true)
  let decl
  info.source.forEachChild((n) => {
    if ((ts.isInterfaceDeclaration(n) || ts.isTypeAliasDeclaration(n)) && n.name.text === info.local) decl = n
  })
  if (!decl) throw new Error(`${info.name}: no declaration ${info.local}`)
  const doc = docOf(decl, info.source)
  if (doc) descriptions[info.name] = doc
  if (SCALARS[info.name]) return SCALARS[info.name]
  if (ts.isTypeAliasDeclaration(decl)) return typeOf(decl.type, info, refs)
  const properties = {}
  const required = []
  for (const m of decl.members) {
    if (!ts.isPropertySignature(m)) continue
    const key = m.name.text ?? m.name.getText(info.source)
    // A kind's declaration pins apiVersion and kind to its own; the published schema says string, optional.
    if ((key === 'apiVersion' || key === 'kind') && m.type.kind === ts.SyntaxKind.LiteralType) {
      properties[key] = { type: 'string' }
      const typeMetaDoc = TYPE_META_DOCS[key]
      if (typeMetaDoc) descriptions[`${info.name}.${key}`] = typeMetaDoc
      continue
    }
    properties[key] = typeOf(m.type, info, refs)
    const fieldDoc = docOf(m, info.source)
    if (fieldDoc) descriptions[`${info.name}.${key}`] = fieldDoc
    if (!m.questionToken) required.push(key)
  }
  const def = { type: 'object', properties }
  if (required.length) def.required = required
  await refineFromValidator(info, def)
  return def
}

// The declarations say "number" for integers too, and nothing of formats: ask the validator, which knows.
async function refineFromValidator(info, def) {
  const path = schemaFile(info.alias)
  if (!existsSync(path)) return
  const { validate } = await import(pathToFileURL(path).href)
  const probe = (key, value, at) => {
    validate({ [key]: value })
    return (validate.errors ?? []).filter((e) => e.instancePath === at)
  }
  for (const [key, prop] of Object.entries(def.properties)) {
    const at = `/${key.replace(/~/g, '~0').replace(/\//g, '~1')}`
    const refine = (schema, wrap, suffix) => {
      if (schema.type === 'number') {
        const errs = probe(key, wrap(0.5), at + suffix)
        if (errs.some((e) => e.keyword === 'type' && e.params.type === 'integer')) schema.type = 'integer'
        const format = errs.find((e) => e.keyword === 'format')?.params.format
        if (format) schema.format = format
        else if (schema.type === 'number') schema.format = probe(key, wrap('x'), at + suffix).find((e) => e.keyword === 'format')?.params.format ?? 'double'
      } else if (schema.type === 'string' && !schema.enum) {
        const format = probe(key, wrap('\u0000not valid\u0000'), at + suffix).find((e) => e.keyword === 'format')?.params.format
        if (format) schema.format = format
      }
    }
    refine(prop, (v) => v, '')
    if (prop.type === 'array' && prop.items) refine(prop.items, (v) => [v], '/0')
    if (prop.type === 'object' && prop.additionalProperties) refine(prop.additionalProperties, (v) => ({ k: v }), '/k')
  }
}

// Every kind of a GA version (v1, v2): the kinds served today (validated in src/registry/validation/schemas.ts)
// and those a later change may serve, so that adding a validator never requires regenerating this file.
function kindRoots() {
  return [...byAlias.values()]
    .filter((i) => /^io\.k8s\.(api|kube-aggregator|apiextensions-apiserver)\..*\.v\d+\.[A-Z]\w*$/.test(i.name) && !i.name.endsWith('List'))
    .filter((i) => /export interface \w+ extends TypeMeta/.test(i.text))
    .map((i) => i.name)
}

const nameToAlias = new Map([...byAlias.values()].map((i) => [i.name, i.alias]))
const definitions = {}
const queue = [...new Set([...kindRoots(), ...EXTRA_ROOTS])].map((n) => {
  const alias = nameToAlias.get(n)
  if (!alias) throw new Error(`no declaration for ${n}`)
  return alias
})
const seen = new Set(queue)
while (queue.length) {
  const info = byAlias.get(queue.shift())
  const refs = new Set()
  definitions[info.name] = await definitionOf(info, refs)
  for (const r of refs) if (!seen.has(r)) { seen.add(r); queue.push(r) }
}
// The list kinds are published from the kind (src/api/openapi/document.ts), described in kube's words.
for (const kind of kindRoots()) {
  const info = byAlias.get(nameToAlias.get(`${kind}List`))
  if (!info) continue
  const source = ts.createSourceFile(info.file, info.text, ts.ScriptTarget.Latest, true)
  source.forEachChild((n) => {
    if (!ts.isInterfaceDeclaration(n) || n.name.text !== info.local) return
    const doc = docOf(n, source)
    if (doc) descriptions[info.name] = doc
    for (const m of n.members) {
      if (!ts.isPropertySignature(m)) continue
      const key = m.name.text
      const fieldDoc = docOf(m, source) ?? TYPE_META_DOCS[key]
      if (fieldDoc) descriptions[`${info.name}.${key}`] = fieldDoc
    }
  })
}
const sorted = Object.fromEntries(Object.keys(definitions).sort().map((k) => [k, definitions[k]]))
const modelsVersion = JSON.parse(readFileSync(join(MODELS, 'package.json'), 'utf8')).version
const out = JSON.stringify({ source: `kubernetes-models@${modelsVersion}`, definitions: sorted }) + '\n'
// Each text once (TypeMeta's apiVersion and kind and ObjectMeta's "Standard object's metadata" recur on every
// kind), the keys naming its index: a fifth less to bundle into the Worker.
const texts = []
const textIndex = new Map()
const sortedDescriptions = Object.fromEntries(Object.keys(descriptions).sort().map((k) => {
  const text = descriptions[k]
  if (!textIndex.has(text)) textIndex.set(text, texts.push(text) - 1)
  return [k, textIndex.get(text)]
}))
const descriptionsOut = JSON.stringify({ source: `kubernetes-models@${modelsVersion}`, texts, descriptions: sortedDescriptions }) + '\n'

for (const [file, text, what] of [[OUT, out, `${Object.keys(sorted).length} definitions`], [DESCRIPTIONS_OUT, descriptionsOut, `${Object.keys(sortedDescriptions).length} descriptions`]]) {
  if (process.argv.includes('--check')) {
    const current = existsSync(file) ? readFileSync(file, 'utf8') : ''
    if (current !== text) {
      console.error(`${relative(root, file)} is out of date: run node scripts/gen-builtin-schemas.mjs`)
      process.exit(1)
    }
  } else {
    writeFileSync(file, text)
    console.log(`${relative(root, file)}: ${what}, ${text.length} bytes`)
  }
}
