// Store-backed allocation of service cluster IPs and node ports. Each allocated value is one key, so
// concurrent creates race on store.create (KeyExists) exactly like etcd transactions do for kube's allocators.
// Cluster IPs live where kube-apiserver's IPAddress allocator keeps them: /registry/ipaddresses/<ip>.
import { isStoreError, type Store } from '../../storage/store'

export const SERVICE_CIDR = '10.96.0.0/12'
export const NODE_PORT_RANGE = { min: 30000, max: 32767 }

const [cidrBase, cidrBits] = SERVICE_CIDR.split('/')
const base = cidrBase.split('.').reduce((a, o) => a * 256 + Number(o), 0)
const size = 2 ** (32 - Number(cidrBits))
/** First and last assignable addresses: the network and broadcast addresses are never handed out. */
export const IP_FIRST = base + 1
export const IP_LAST = base + size - 2
// kube's allocator prefers dynamic allocations above a lower band kept for static ones: min(max(16, size/16), 256).
const IP_DYNAMIC_OFFSET = Math.min(Math.max(16, Math.floor(size / 16)), 256)
const NODE_PORT_DYNAMIC_OFFSET = Math.min(Math.max(16, Math.floor((NODE_PORT_RANGE.max - NODE_PORT_RANGE.min + 1) / 32)), 128)

export const ipToNumber = (ip: string) => ip.split('.').reduce((a, o) => a * 256 + Number(o), 0)
export const numberToIP = (n: number) => [24, 16, 8, 0].map((s) => Math.floor(n / 2 ** s) % 256).join('.')
export const ipInRange = (ip: string) => /^\d+\.\d+\.\d+\.\d+$/.test(ip) && ipToNumber(ip) >= IP_FIRST && ipToNumber(ip) <= IP_LAST

export const ipKey = (ip: string) => `/registry/ipaddresses/${ip}`
export const nodePortKey = (port: number) => `/registry/servicenodeports/${port}`

export interface Owner {
  namespace: string
  name: string
}

function randomInt(n: number): number {
  const a = new Uint32Array(1)
  crypto.getRandomValues(a)
  return a[0] % n
}

function ipAddressObject(ip: string, owner: Owner): string {
  return JSON.stringify({
    apiVersion: 'networking.k8s.io/v1',
    kind: 'IPAddress',
    metadata: {
      name: ip,
      uid: crypto.randomUUID(),
      creationTimestamp: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
      labels: { 'ipaddress.kubernetes.io/ip-family': 'IPv4', 'ipaddress.kubernetes.io/managed-by': 'ipallocator.k8s.io' },
    },
    spec: { parentRef: { group: '', resource: 'services', namespace: owner.namespace, name: owner.name } },
  })
}

const nodePortValue = (port: number, owner: Owner) => JSON.stringify({ port, service: owner })

/** Takes `key` if free: false when another holder has it. */
async function claim(store: Store, key: string, value: string): Promise<boolean> {
  try {
    await store.create(key, value)
    return true
  } catch (e) {
    if (isStoreError(e, 'KeyExists')) return false
    throw e
  }
}

// Scans from a random point of the dynamic band, then the rest of the range, as kube's bitmap allocator does.
async function claimNext(store: Store, first: number, last: number, offset: number, take: (n: number) => Promise<boolean>, maxTries: number): Promise<number | undefined> {
  const span = last - first + 1
  const dynamicStart = first + Math.min(offset, span - 1)
  const start = dynamicStart + randomInt(last - dynamicStart + 1)
  for (let i = 0; i < Math.min(span, maxTries); i++) {
    const n = first + ((start - first + i) % span)
    if (await take(n)) return n
  }
  return undefined
}

export const claimIP = (store: Store, ip: string, owner: Owner) => claim(store, ipKey(ip), ipAddressObject(ip, owner))
export async function claimNextIP(store: Store, owner: Owner): Promise<string | undefined> {
  const n = await claimNext(store, IP_FIRST, IP_LAST, IP_DYNAMIC_OFFSET, (n) => claimIP(store, numberToIP(n), owner), 4096)
  return n === undefined ? undefined : numberToIP(n)
}

export const claimNodePort = (store: Store, port: number, owner: Owner) => claim(store, nodePortKey(port), nodePortValue(port, owner))
export const claimNextNodePort = (store: Store, owner: Owner) =>
  claimNext(store, NODE_PORT_RANGE.min, NODE_PORT_RANGE.max, NODE_PORT_DYNAMIC_OFFSET, (n) => claimNodePort(store, n, owner), NODE_PORT_RANGE.max - NODE_PORT_RANGE.min + 1)

function ownedBy(value: string, owner: Owner): boolean {
  try {
    const v = JSON.parse(value)
    const ref = v.spec?.parentRef ?? v.service
    return ref?.namespace === owner.namespace && ref?.name === owner.name
  } catch {
    return false
  }
}

/** Releases a key if `owner` still holds it; a key someone else took since is left alone. */
export async function release(store: Store, key: string, owner: Owner): Promise<void> {
  const { kv } = await store.get(key)
  if (!kv || !ownedBy(kv.value, owner)) return
  try {
    await store.delete(key, kv.modRevision)
  } catch (e) {
    if (!isStoreError(e, 'NotFound') && !isStoreError(e, 'Conflict')) throw e
  }
}
