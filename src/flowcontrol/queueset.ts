// One priority level's queues and seats (k8s.io/apiserver/pkg/util/flowcontrol/fairqueuing/queueset):
// a request is shuffle-sharded to the shortest queue of its flow's hand, waits there at most the queue
// wait limit, and is dispatched when a seat is free. Dispatch takes the queues' heads in turn (round
// robin over the non-empty queues), which is fair among flows when requests are of one width, as every
// request here is (one seat each).
import { deal } from './shuffle-sharding'

export interface QueuingConfig {
  queues: number
  handSize: number
  queueLengthLimit: number
}

export type RejectReason = 'queue-full' | 'concurrency-limit' | 'time-out' | 'cancelled'

/** What a request carries into the queues, for the dumps and the metrics. */
export interface RequestDescription {
  flowSchema: string
  distinguisher: string
  hash: bigint
  seats: number
  userName?: string
  verb?: string
  path?: string
  namespace?: string
  name?: string
  apiVersion?: string
  resource?: string
  subresource?: string
}

export type Outcome =
  | { executed: true; queueIndex: number; waitedMs: number; finish(): void }
  | { executed: false; reason: RejectReason; waitedMs: number }

interface Waiter {
  req: RequestDescription
  arrived: number
  queue: Queue
  settle(o: Outcome): void
}

interface Queue {
  index: number
  waiting: Waiter[]
  executingRequests: number
  seatsInUse: number
}

/** One row of kube's dump_requests; times on the QueueSet's clock. */
export interface DumpedRequest {
  queue: number
  position: number
  req: RequestDescription
  arrived: number
  started?: number
}

/** Flows repeat: each one's hand is dealt once (a bounded cache, emptied when full). */
const HAND_CACHE_SIZE = 10_000

export class QueueSet {
  private readonly hands = new Map<bigint, number[]>()
  /** Executing requests, with the index of the queue they were dealt. */
  private readonly running = new Map<
    { req: RequestDescription; arrived: number; started: number },
    number
  >()
  readonly queues: Queue[]
  executingRequests = 0
  seatsInUse = 0
  waitingRequests = 0
  dispatched = 0
  rejected = 0
  timedOut = 0
  cancelled = 0
  /** The most seats demanded (executing and waiting) since the last call to takeDemand. */
  private peakDemand = 0
  private robin = 0
  private waitingSeats = 0

  constructor(
    /** Undefined for a level whose limitResponse is Reject: no queues, a request either runs or is turned away. */
    readonly queuing: QueuingConfig | undefined,
    public concurrencyLimit: number,
    private readonly waitLimitMs: number,
    private readonly now: () => number = () => performance.now(),
  ) {
    const n = queuing ? queuing.queues : 1
    this.queues = Array.from({ length: n }, (_, index) => ({
      index,
      waiting: [],
      executingRequests: 0,
      seatsInUse: 0,
    }))
  }

  get isIdle(): boolean {
    return this.executingRequests === 0 && this.waitingRequests === 0
  }

  /** The seats demanded now, and resets the peak to that. */
  takeDemand(): number {
    const peak = this.peakDemand
    this.peakDemand = this.seatsInUse + this.waitingSeats
    return peak
  }

  setConcurrencyLimit(limit: number): void {
    this.concurrencyLimit = limit
    this.dispatch()
  }

  /** The queue of the flow's hand with the fewest seats waiting and in use. */
  private chooseQueue(req: RequestDescription): Queue {
    if (!this.queuing || this.queues.length === 1) return this.queues[0]
    let best: Queue | undefined
    let bestLen = Infinity
    let hand = this.hands.get(req.hash)
    if (!hand) {
      if (this.hands.size >= HAND_CACHE_SIZE) this.hands.clear()
      hand = deal(req.hash, this.queuing.queues, this.queuing.handSize)
      this.hands.set(req.hash, hand)
    }
    for (const i of hand) {
      const q = this.queues[i]
      const len = q.waiting.reduce((s, w) => s + w.req.seats, 0) + q.seatsInUse
      if (len < bestLen) {
        best = q
        bestLen = len
      }
    }
    return best!
  }

  /**
   * Runs the request now, queues it, or turns it away; resolves once it runs or is turned away. The
   * request's abort signal is asked for only when it has to wait (@hono/node-server builds one on demand).
   */
  enqueue(
    req: RequestDescription,
    abortSignal?: () => AbortSignal | undefined,
    onEnqueued?: (queueLength: number) => void,
  ): Promise<Outcome> {
    const arrived = this.now()
    const queue = this.chooseQueue(req)
    if (this.waitingRequests === 0 && this.seatsInUse + req.seats <= this.concurrencyLimit) {
      this.noteDemand(req.seats)
      return Promise.resolve(this.start(queue, req, arrived))
    }
    if (!this.queuing) {
      this.rejected++
      return Promise.resolve({ executed: false, reason: 'concurrency-limit', waitedMs: 0 })
    }
    if (queue.waiting.length >= this.queuing.queueLengthLimit) {
      this.rejected++
      return Promise.resolve({ executed: false, reason: 'queue-full', waitedMs: 0 })
    }
    this.noteDemand(req.seats)
    const signal = abortSignal?.()
    return new Promise<Outcome>((resolve) => {
      let timer: ReturnType<typeof setTimeout> | undefined
      const onAbort = () => leave('cancelled')
      const waiter: Waiter = {
        req,
        arrived,
        queue,
        settle: (o) => {
          if (timer !== undefined) clearTimeout(timer)
          signal?.removeEventListener('abort', onAbort)
          resolve(o)
        },
      }
      const leave = (reason: 'time-out' | 'cancelled') => {
        const i = queue.waiting.indexOf(waiter)
        if (i < 0) return
        queue.waiting.splice(i, 1)
        this.waitingRequests--
        this.waitingSeats -= req.seats
        this.rejected++
        if (reason === 'time-out') this.timedOut++
        else this.cancelled++
        waiter.settle({ executed: false, reason, waitedMs: this.now() - arrived })
      }
      queue.waiting.push(waiter)
      onEnqueued?.(queue.waiting.length)
      this.waitingRequests++
      this.waitingSeats += req.seats
      timer = setTimeout(() => leave('time-out'), this.waitLimitMs)
      if (signal) {
        if (signal.aborted) return leave('cancelled')
        signal.addEventListener('abort', onAbort, { once: true })
      }
    })
  }

  private noteDemand(seats: number): void {
    this.peakDemand = Math.max(this.peakDemand, this.seatsInUse + this.waitingSeats + seats)
  }

  private start(queue: Queue, req: RequestDescription, arrived: number): Outcome {
    queue.executingRequests++
    queue.seatsInUse += req.seats
    this.executingRequests++
    this.seatsInUse += req.seats
    this.dispatched++
    const running = { req, arrived, started: this.now() }
    this.running.set(running, queue.index)
    let done = false
    return {
      executed: true,
      queueIndex: queue.index,
      waitedMs: this.now() - arrived,
      finish: () => {
        if (done) return
        done = true
        this.running.delete(running)
        queue.executingRequests--
        queue.seatsInUse -= req.seats
        this.executingRequests--
        this.seatsInUse -= req.seats
        this.dispatch()
      },
    }
  }

  /** Starts waiting requests while seats are free, taking the queues' heads in turn. */
  private dispatch(): void {
    while (this.waitingRequests > 0) {
      let queue: Queue | undefined
      for (let k = 0; k < this.queues.length; k++) {
        const q = this.queues[(this.robin + k) % this.queues.length]
        if (q.waiting.length) {
          queue = q
          break
        }
      }
      if (!queue) return
      const head = queue.waiting[0]
      if (this.seatsInUse + head.req.seats > this.concurrencyLimit) return
      // The turn passes only when the head was dispatched.
      this.robin = (queue.index + 1) % this.queues.length
      queue.waiting.shift()
      this.waitingRequests--
      this.waitingSeats -= head.req.seats
      head.settle(this.start(queue, head.req, head.arrived))
    }
  }

  /**
   * The requests waiting and executing, as kube's dump_requests lists them: each queue's waiting ones
   * (with their position), then its executing ones (position -1); a level without queues (Reject)
   * reports its executing requests with queue -1.
   */
  requests(): DumpedRequest[] {
    const out: DumpedRequest[] = []
    for (const q of this.queues) {
      q.waiting.forEach((w, position) =>
        out.push({ queue: q.index, position, req: w.req, arrived: w.arrived }),
      )
      for (const [r, index] of this.running)
        if (index === q.index && this.queuing)
          out.push({
            queue: q.index,
            position: -1,
            req: r.req,
            arrived: r.arrived,
            started: r.started,
          })
    }
    if (!this.queuing)
      for (const [r] of this.running)
        out.push({ queue: -1, position: -1, req: r.req, arrived: r.arrived, started: r.started })
    return out
  }
}
