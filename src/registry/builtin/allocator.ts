// Store-backed allocation of service cluster IPs and node ports. Each allocated value is one key, so
// concurrent creates race on store.create (KeyExists) exactly like etcd transactions do for kube's allocators.
// Cluster IPs live where kube-apiserver's IPAddress allocator keeps them: /registry/ipaddresses/<ip>.
import { isStoreError, type Store } from '../../storage/store'

/** The ranges kube-apiserver's --service-cluster-ip-range and --service-node-port-range set (kubeadm's defaults). */
export const SERVICE_CIDR = '10.96.0.0/12'
export const NODE_PORT_RANGE = { min: 30000, max: 32767 }

export type IPFamily = 'IPv4' | 'IPv6'

/** An IP as a number, IPv4 or IPv6 (no zone, no embedded IPv4), or undefined. */
export function parseIP(ip: string): { family: IPFamily; n: bigint } | undefined {
  if (/^\d{1,3}(\.\d{1,3}){3}$/.test(ip)) {
    const octets = ip.split('.').map(Number)
    if (octets.some((o) => o > 255)) return undefined
    return { family: 'IPv4', n: octets.reduce((a, o) => a * 256n + BigInt(o), 0n) }
  }
  if (!/^[0-9a-fA-F:]+$/.test(ip) || ip.split('::').length > 2) return undefined
  const [head, tail] = ip.includes('::') ? ip.split('::') : [ip, undefined]
  const groups = (g: string | undefined) => (g ? g.split(':') : [])
  const h = groups(head)
  const t = groups(tail)
  if ([...h, ...t].some((g) => g.length < 1 || g.length > 4)) return undefined
  const missing = 8 - h.length - t.length
  if (tail === undefined ? missing !== 0 : missing < 1) return undefined
  const all = [...h, ...Array(tail === undefined ? 0 : missing).fill('0'), ...t]
  return { family: 'IPv6', n: all.reduce((a, g) => (a << 16n) + BigInt(parseInt(g, 16)), 0n) }
}

/** Go's net.IP.String: dotted IPv4; IPv6 lower case with the longest run of two or more zero groups as ::. */
export function formatIP(family: IPFamily, n: bigint): string {
  if (family === 'IPv4') return [24n, 16n, 8n, 0n].map((sh) => String((n >> sh) & 255n)).join('.')
  const g = Array.from({ length: 8 }, (_, i) => Number((n >> BigInt(16 * (7 - i))) & 0xffffn))
  let best = -1
  let bestLen = 1
  for (let i = 0; i < 8; i++) {
    let j = i
    while (j < 8 && g[j] === 0) j++
    if (j - i > bestLen) {
      best = i
      bestLen = j - i
    }
  }
  const hex = (xs: number[]) => xs.map((x) => x.toString(16)).join(':')
  return best < 0 ? hex(g) : `${hex(g.slice(0, best))}::${hex(g.slice(best + bestLen))}`
}

interface IPRange {
  cidr: string
  family: IPFamily
  /** First and last assignable addresses: the network address never, nor IPv4's broadcast address. */
  first: bigint
  last: bigint
  /** kube's allocator prefers dynamic allocations above a lower band kept for static ones: min(max(16, size/16), 256). */
  dynamicOffset: number
}

interface ServiceNetwork {
  /** The primary range first; a second one of the other family makes the cluster dual-stack. */
  ranges: IPRange[]
  nodePorts: { min: number; max: number }
  nodePortDynamicOffset: number
}

function ipRange(cidr: string): IPRange {
  const [ip, bits] = cidr.split('/')
  const parsed = parseIP(ip!)
  if (!parsed) throw new Error(`invalid CIDR address: ${cidr}`)
  const width = parsed.family === 'IPv4' ? 32n : 128n
  const size = 1n << (width - BigInt(bits!))
  const base = (parsed.n / size) * size
  const assignable = Number(size > 65536n ? 65536n : size)
  return {
    cidr: `${formatIP(parsed.family, base)}/${bits}`,
    family: parsed.family,
    first: base + 1n,
    last: base + size - (parsed.family === 'IPv4' ? 2n : 1n),
    dynamicOffset: Math.min(Math.max(16, Math.floor(assignable / 16)), 256),
  }
}

function serviceNetwork(cidrs: string[], nodePorts: { min: number; max: number }): ServiceNetwork {
  return {
    ranges: cidrs.map(ipRange),
    nodePorts,
    nodePortDynamicOffset: Math.min(
      Math.max(16, Math.floor((nodePorts.max - nodePorts.min + 1) / 32)),
      128,
    ),
  }
}

let network: ServiceNetwork | undefined
const net = () => (network ??= serviceNetwork([SERVICE_CIDR], NODE_PORT_RANGE))

/**
 * Sets the service IP ranges (one CIDR, or two of different families for dual-stack) and the node port
 * range for this process, as --service-cluster-ip-range and --service-node-port-range do.
 */
export function configureServiceNetwork(
  cidrs: string | string[],
  nodePorts: { min: number; max: number } = NODE_PORT_RANGE,
): void {
  network = serviceNetwork(typeof cidrs === 'string' ? cidrs.split(',') : cidrs, nodePorts)
}

/** The configured families, primary first. */
export const serviceIPFamilies = (): IPFamily[] => net().ranges.map((r) => r.family)
const rangeOf = (family: IPFamily) => net().ranges.find((r) => r.family === family)
/** The configured range of a family (the primary by default), as kube prints it in allocation errors. */
export const serviceCIDR = (family?: IPFamily) =>
  family ? (rangeOf(family)?.cidr ?? '') : net().ranges[0]!.cidr
export const nodePortRange = () => net().nodePorts
/** The `kubernetes` Service's IP: the first address of the primary range (kube's GetIndexedIP(range, 1)). */
export const kubernetesServiceIP = () => formatIP(net().ranges[0]!.family, net().ranges[0]!.first)

export const ipFamilyOf = (ip: string): IPFamily | undefined => parseIP(ip)?.family
/** The IP is in the configured range of its family. */
export function ipInRange(ip: string): boolean {
  const p = parseIP(ip)
  const r = p && rangeOf(p.family)
  return !!r && p.n >= r.first && p.n <= r.last
}
/** An IP's canonical spelling (the IPAddress object's name). */
export const canonicalIP = (ip: string) => {
  const p = parseIP(ip)
  return p ? formatIP(p.family, p.n) : ip
}

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
  const family = ipFamilyOf(ip) ?? 'IPv4'
  return JSON.stringify({
    apiVersion: 'networking.k8s.io/v1',
    kind: 'IPAddress',
    metadata: {
      name: ip,
      uid: crypto.randomUUID(),
      creationTimestamp: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
      labels: {
        'ipaddress.kubernetes.io/ip-family': family,
        'ipaddress.kubernetes.io/managed-by': 'ipallocator.k8s.io',
      },
    },
    spec: {
      parentRef: { group: '', resource: 'services', namespace: owner.namespace, name: owner.name },
    },
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
async function claimNext(
  store: Store,
  first: number,
  last: number,
  offset: number,
  take: (n: number) => Promise<boolean>,
  maxTries: number,
): Promise<number | undefined> {
  const span = last - first + 1
  const dynamicStart = first + Math.min(offset, span - 1)
  const start = dynamicStart + randomInt(last - dynamicStart + 1)
  for (let i = 0; i < Math.min(span, maxTries); i++) {
    const n = first + ((start - first + i) % span)
    if (await take(n)) return n
  }
  return undefined
}

export const claimIP = (store: Store, ip: string, owner: Owner) =>
  claim(store, ipKey(canonicalIP(ip)), ipAddressObject(canonicalIP(ip), owner))
/** A free IP of the family's range (the primary's by default), taken for `owner`. */
export async function claimNextIP(
  store: Store,
  owner: Owner,
  family?: IPFamily,
): Promise<string | undefined> {
  const r = family ? rangeOf(family) : net().ranges[0]
  if (!r) return undefined
  // Offsets from the first address; kube's bitmap covers at most 2^16 addresses of a range.
  const span = r.last - r.first + 1n > 65536n ? 65536 : Number(r.last - r.first + 1n)
  const ipAt = (i: number) => formatIP(r.family, r.first + BigInt(i))
  const i = await claimNext(
    store,
    0,
    span - 1,
    r.dynamicOffset,
    (i) => claimIP(store, ipAt(i), owner),
    4096,
  )
  return i === undefined ? undefined : ipAt(i)
}

export const claimNodePort = (store: Store, port: number, owner: Owner) =>
  claim(store, nodePortKey(port), nodePortValue(port, owner))
export function claimNextNodePort(store: Store, owner: Owner): Promise<number | undefined> {
  const {
    nodePorts: { min, max },
    nodePortDynamicOffset,
  } = net()
  return claimNext(
    store,
    min,
    max,
    nodePortDynamicOffset,
    (n) => claimNodePort(store, n, owner),
    max - min + 1,
  )
}

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
