#!/usr/bin/env node
// Writes kube's generated.proto definitions, as compiled into a kubectl binary, to test/fixtures/proto/ for the
// protobuf wire tests, which decode our responses with protobufjs against them (independently of the server's
// own field table in src/api/protobuf/schema.ts).
//
//   node scripts/extract-kube-protos.mjs [path/to/kubectl] [out-dir]
//
// gogo-generated code registers each generated.proto as a gzipped FileDescriptorProto; this finds them in the
// binary and prints each back as .proto text (messages, fields, maps; comments and gogo options are not in
// the descriptor). The files needed are those of the packages listed below and what they import.
import { execFileSync } from 'node:child_process'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { inflateRawSync } from 'node:zlib'

const kubectl = process.argv[2] ?? '/usr/bin/kubectl'
const outDir = process.argv[3] ?? 'test/fixtures/proto'
const ROOTS = [
  'admissionregistration/v1', 'apps/v1', 'authentication/v1', 'authorization/v1', 'autoscaling/v1',
  'autoscaling/v2', 'batch/v1', 'certificates/v1', 'coordination/v1', 'core/v1', 'discovery/v1', 'events/v1', 'flowcontrol/v1',
  'networking/v1', 'node/v1', 'policy/v1', 'rbac/v1', 'scheduling/v1', 'storage/v1',
].map((gv) => `k8s.io/api/${gv}/generated.proto`)
// PartialObjectMetadataList of meta.k8s.io/v1beta1 (its PartialObjectMetadata is v1's, a Go alias).
ROOTS.push('k8s.io/apimachinery/pkg/apis/meta/v1beta1/generated.proto')

const bin = readFileSync(kubectl)

function readProto(buf) { // → Map<fieldNumber, values[]>; length-delimited values stay bytes
  const out = new Map()
  let p = 0
  const varint = () => { let v = 0n, sh = 0n; for (;;) { const b = buf[p++]; v |= BigInt(b & 0x7f) << sh; sh += 7n; if (!(b & 0x80)) return v } }
  while (p < buf.length) {
    const key = Number(varint()), no = key >>> 3, wt = key & 7
    let v
    if (wt === 0) v = varint()
    else if (wt === 2) { const n = Number(varint()); v = buf.subarray(p, p + n); p += n }
    else if (wt === 1) { v = buf.subarray(p, p + 8); p += 8 }
    else if (wt === 5) { v = buf.subarray(p, p + 4); p += 4 }
    else throw new Error(`wire type ${wt}`)
    if (!out.has(no)) out.set(no, [])
    out.get(no).push(v)
  }
  return out
}
const str = (b) => (b ? Buffer.from(b).toString('utf8') : '')

const files = new Map() // name → FileDescriptorProto fields
const magic = Buffer.from([0x1f, 0x8b, 0x08])
for (let i = bin.indexOf(magic); i >= 0; i = bin.indexOf(magic, i + 1)) {
  let file
  try { file = readProto(inflateRawSync(bin.subarray(i + 10, i + 10 + (1 << 20)), { finishFlush: 2 })) } catch { continue }
  const name = str(file.get(1)?.[0])
  if (/^k8s\.io\/.*generated\.proto$/.test(name)) files.set(name, file)
}

const TYPES = { 1: 'double', 2: 'float', 3: 'int64', 4: 'uint64', 5: 'int32', 6: 'fixed64', 7: 'fixed32', 8: 'bool', 9: 'string', 12: 'bytes', 13: 'uint32', 15: 'sfixed32', 16: 'sfixed64', 17: 'sint32', 18: 'sint64' }

function messageText(d, indent) {
  const msg = readProto(d)
  const name = str(msg.get(1)[0])
  const nested = (msg.get(3) ?? []).map((n) => ({ raw: n, m: readProto(n) }))
  const mapEntries = new Map()
  for (const n of nested) {
    const opts = n.m.get(7)?.[0]
    if (opts && readProto(opts).get(7)?.[0] === 1n) mapEntries.set(str(n.m.get(1)[0]), n.m)
  }
  const typeOf = (f) => (Number(f.get(5)[0]) === 11 || Number(f.get(5)[0]) === 14 ? str(f.get(6)[0]) : TYPES[Number(f.get(5)[0])])
  const lines = [`${indent}message ${name} {`]
  for (const fd of msg.get(2) ?? []) {
    const f = readProto(fd)
    const fname = str(f.get(1)[0]), no = Number(f.get(3)[0]), label = Number(f.get(4)[0])
    const typeName = str(f.get(6)?.[0])
    const entry = typeName && mapEntries.get(typeName.split('.').pop())
    if (label === 3 && entry && typeName.endsWith(`.${name}.${typeName.split('.').pop()}`)) {
      const [k, v] = (entry.get(2) ?? []).map(readProto)
      lines.push(`${indent}  map<${typeOf(k)}, ${typeOf(v)}> ${fname} = ${no};`)
      continue
    }
    lines.push(`${indent}  ${label === 3 ? 'repeated' : label === 2 ? 'required' : 'optional'} ${typeOf(f)} ${fname} = ${no};`)
  }
  for (const n of nested) if (!mapEntries.has(str(n.m.get(1)[0]))) lines.push(messageText(n.raw, `${indent}  `))
  lines.push(`${indent}}`)
  return lines.join('\n')
}

const version = JSON.parse(execFileSync(kubectl, ['version', '--client', '-o', 'json'], { encoding: 'utf8' })).clientVersion.gitVersion
const queue = [...ROOTS]
const written = new Set()
while (queue.length) {
  const name = queue.shift()
  if (written.has(name)) continue
  written.add(name)
  const file = files.get(name)
  if (!file) throw new Error(`no descriptor for ${name} in ${kubectl}`)
  // gogo.proto only defines the options gogo's generator reads, which the descriptor no longer carries.
  const deps = (file.get(3) ?? []).map(str).filter((d) => d !== 'github.com/gogo/protobuf/gogoproto/gogo.proto')
  queue.push(...deps.filter((d) => d.startsWith('k8s.io/')))
  if (deps.some((d) => !d.startsWith('k8s.io/'))) throw new Error(`${name} imports outside k8s.io: ${deps}`)
  if (file.get(5)?.length) throw new Error(`${name} has enums, which this does not print`)
  const text = [
    `// ${name} as compiled into kubectl ${version} (extracted by scripts/extract-kube-protos.mjs).`,
    'syntax = "proto2";',
    '',
    `package ${str(file.get(2)[0])};`,
    '',
    ...deps.map((d) => `import "${d}";`),
    '',
    ...(file.get(4) ?? []).map((d) => messageText(d, '')),
    '',
  ].join('\n')
  mkdirSync(dirname(join(outDir, name)), { recursive: true })
  writeFileSync(join(outDir, name), text)
}
console.log([...written].sort().join('\n'))
