// Store-backed allocation of service cluster IPs and node ports. Each allocated value is one key, so
// concurrent creates race on store.create (KeyExists) exactly like etcd transactions do for kube's allocators.
// Cluster IPs live where kube-apiserver's IPAddress allocator keeps them: /registry/ipaddresses/<ip>.
import { isStoreError, type Store } from '../../storage/store'

/** The ranges kube-apiserver's --service-cluster-ip-range and --service-node-port-range set (kubeadm's defaults). */
export const SERVICE_CIDR = '10.96.0.0/12'
export const NODE_PORT_RANGE = { min: 30000, max: 32767 }

interface ServiceNetwork {
  cidr: string
  /** First and last assignable addresses: the network and broadcast addresses are never handed out. */
  first: number
  last: number
  /** kube's allocator prefers dynamic allocations above a lower band kept for static ones: min(max(16, size/16), 256). */
  dynamicOffset: number
  nodePorts: { min: number; max: number }
  nodePortDynamicOffset: number
}

function serviceNetwork(cidr: string, nodePorts: { min: number; max: number }): ServiceNetwork {
  const [cidrBase, cidrBits] = cidr.split('/')
  const size = 2 ** (32 - Number(cidrBits))
  const base = Math.floor(ipToNumber(cidrBase!) / size) * size
  return {
    cidr, first: base + 1, last: base + size - 2, dynamicOffset: Math.min(Math.max(16, Math.floor(size / 16)), 256),
    nodePorts, nodePortDynamicOffset: Math.min(Math.max(16, Math.floor((nodePorts.max - nodePorts.min + 1) / 32)), 128),
  }
}

let network: ServiceNetwork | undefined
const net = () => (network ??= serviceNetwork(SERVICE_CIDR, NODE_PORT_RANGE))

/**
 * Sets the service IP range (one IPv4 CIDR) and the node port range for this process, as
 * --service-cluster-ip-range and --service-node-port-range do; one configuration per process.
 */
export function configureServiceNetwork(cidr: string, nodePorts: { min: number; max: number } = NODE_PORT_RANGE): void {
  network = serviceNetwork(cidr, nodePorts)
}

/** The configured range, as kube prints it in allocation errors. */
export const serviceCIDR = () => net().cidr
export const nodePortRange = () => net().nodePorts
/** The `kubernetes` Service's IP: the first address of the range (kube's GetIndexedIP(range, 1)). */
export const kubernetesServiceIP = () => numberToIP(net().first)

export const ipToNumber = (ip: string) => ip.split('.').reduce((a, o) => a * 256 + Number(o), 0)
export const numberToIP = (n: number) => [24, 16, 8, 0].map((s) => Math.floor(n / 2 ** s) % 256).join('.')
export const ipInRange = (ip: string) => /^\d+\.\d+\.\d+\.\d+$/.test(ip) && ipToNumber(ip) >= net().first && ipToNumber(ip) <= net().last

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
  const { first, last, dynamicOffset } = net()
  const n = await claimNext(store, first, last, dynamicOffset, (n) => claimIP(store, numberToIP(n), owner), 4096)
  return n === undefined ? undefined : numberToIP(n)
}

export const claimNodePort = (store: Store, port: number, owner: Owner) => claim(store, nodePortKey(port), nodePortValue(port, owner))
export function claimNextNodePort(store: Store, owner: Owner): Promise<number | undefined> {
  const { nodePorts: { min, max }, nodePortDynamicOffset } = net()
  return claimNext(store, min, max, nodePortDynamicOffset, (n) => claimNodePort(store, n, owner), max - min + 1)
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
