// Shuffle sharding as k8s.io/apiserver/pkg/util/shufflesharding does it: a flow's 64-bit hash deals a hand
// of handSize distinct queues out of a deck of `queues`, so that two flows rarely share a whole hand and
// one heavy flow fills only the queues of its own hand.

const FNV_OFFSET = 0xcbf29ce484222325n
const FNV_PRIME = 0x100000001b3n
const MASK_64 = (1n << 64n) - 1n

/**
 * The flow's identity hashed: FlowSchema name, a zero byte, then the distinguisher (kube's hashFlowID).
 * kube takes SHA-256's first 8 bytes; FNV-1a spreads as well for this purpose and is synchronous here.
 */
export function hashFlowID(flowSchemaName: string, distinguisher: string): bigint {
  let h = FNV_OFFSET
  const bytes = new TextEncoder().encode(`${flowSchemaName}\u0000${distinguisher}`)
  for (const b of bytes) {
    h ^= BigInt(b)
    h = (h * FNV_PRIME) & MASK_64
  }
  return h
}

/**
 * Deals handSize distinct cards from a deck of deckSize: each step takes a remainder of the hash by the
 * number of cards left and maps it to that card among the ones not yet dealt.
 */
export function deal(hash: bigint, deckSize: number, handSize: number): number[] {
  const hand: number[] = []
  const taken: number[] = [] // ascending
  let v = hash
  for (let i = 0; i < handSize && i < deckSize; i++) {
    const left = BigInt(deckSize - i)
    let card = Number(v % left)
    v /= left
    for (const t of taken) if (card >= t) card++
    hand.push(card)
    taken.push(card)
    taken.sort((a, b) => a - b)
  }
  return hand
}
