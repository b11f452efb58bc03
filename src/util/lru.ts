/** A Map that keeps at most `max` entries, dropping the least recently used (a get or set uses an entry). */
export class LruMap<K, V> {
  private readonly entries = new Map<K, V>()

  constructor(private readonly max: number) {}

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
    while (this.entries.size > this.max) this.entries.delete(this.entries.keys().next().value!)
  }

  delete(key: K): void {
    this.entries.delete(key)
  }
}
