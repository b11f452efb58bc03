// The verification pass: per resource, how many keys and a SHA-256 over each key, its mod revision
// and its value (protobuf values as their JSON, so a cluster moved between a store that keeps kube's
// protobuf and one that keeps JSON compares equal when the objects are).
import { sha256 } from '@noble/hashes/sha2.js'
import { bytesToHex } from '@noble/hashes/utils.js'
import { storedJson } from '../storage-codec'
import type { KeyValue } from '../store'
import { isSnapshotKey } from './format'

/**
 * The resource a key belongs to in kube's layout: /registry/<resource>/..., or for a group whose keys
 * carry it (custom resources, apiregistration) /registry/<group>/<resource>/....
 */
export function resourceOfKey(key: string): string {
  const parts = key.split('/')
  // ['', 'registry', a, b, ...]
  const first = parts[2] ?? ''
  if (first.includes('.') && parts.length > 4) return `${first}/${parts[3]}`
  return first
}

export interface ResourceDigest {
  count: number
  sha256: string
}

export class SnapshotDigest {
  private readonly hashes = new Map<
    string,
    { count: number; hash: ReturnType<typeof sha256.create> }
  >()
  private readonly encoder = new TextEncoder()

  constructor(private readonly withRevisions = true) {}

  add(kv: KeyValue): void {
    // An older file's bookkeeping, which a restore leaves out: not compared either.
    if (!isSnapshotKey(kv.key)) return
    const resource = resourceOfKey(kv.key)
    let h = this.hashes.get(resource)
    if (!h) this.hashes.set(resource, (h = { count: 0, hash: sha256.create() }))
    h.count++
    const rev = this.withRevisions ? String(kv.modRevision) : ''
    h.hash.update(this.encoder.encode(`${kv.key}\0${rev}\0${storedJson(kv.key, kv.value)}\0`))
  }

  result(): Record<string, ResourceDigest> {
    const out: Record<string, ResourceDigest> = {}
    for (const r of [...this.hashes.keys()].sort()) {
      const h = this.hashes.get(r)!
      out[r] = { count: h.count, sha256: bytesToHex(h.hash.digest()) }
    }
    return out
  }
}

export interface DigestDifference {
  resource: string
  source?: ResourceDigest
  target?: ResourceDigest
}

/** The resources whose counts or checksums differ between two digests. */
export function compareDigests(
  source: Record<string, ResourceDigest>,
  target: Record<string, ResourceDigest>,
): DigestDifference[] {
  const diffs: DigestDifference[] = []
  for (const resource of new Set([...Object.keys(source), ...Object.keys(target)])) {
    const s = source[resource]
    const t = target[resource]
    if (s?.count !== t?.count || s?.sha256 !== t?.sha256)
      diffs.push({ resource, source: s, target: t })
  }
  return diffs.sort((a, b) => a.resource.localeCompare(b.resource))
}
