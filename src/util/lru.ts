/**
 * A Map that keeps at most `max` entries, dropping the least recently used (a get or set uses an entry);
 * `evicted` hears of each entry dropped so (not of those deleted or replaced).
 */
export class LruMap<K, V> {
  private readonly entries = new Map<K, V>()

  constructor(
    private readonly max: number,
    private readonly evicted?: (key: K, value: V) => void,
  ) {}

  get(key: K): V | undefined {
    const v = this.entries.get(key)
    if (v !== undefined) {
      // A Map keeps insertion order: taking it out and back in makes it the most recently used.
      this.entries.delete(key)
      this.entries.set(key, v)
    }
    return v
  }

  set(key: K, value: V): void {
    this.entries.delete(key)
    this.entries.set(key, value)
    while (this.entries.size > this.max) {
      const [oldest, v] = this.entries.entries().next().value!
      this.entries.delete(oldest)
      this.evicted?.(oldest, v)
    }
  }

  delete(key: K): void {
    this.entries.delete(key)
  }
}
