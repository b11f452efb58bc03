// SQL over the schema in migrations/: current state in `kv`, history in `log`, counters in `meta`.
// Every value is a bound parameter (SQL text is capped at 100 KB); statements are constant strings.
// Results are read out of the cursors at once: nothing here awaits.
import { fromByteString, isByteString, toByteString, type KeyValue } from '../store'
import type { LogEvent } from './ring'
import { encodeEvent, type WireEvent } from './protocol'

type Row = Record<string, SqlStorageValue>
interface LogRow extends Row {
  rev: number
  key: string
  value: string | ArrayBuffer | null
  create_rev: number
  version: number
  prev_rev: number | null
  prev_value: string | ArrayBuffer | null
}

/**
 * An encrypted value (a byte string) is kept as a BLOB of its bytes: as text its upper half would take two
 * bytes each in UTF-8, and a Secret near the size limit would pass SQLite's 2 MB row limit.
 */
function columnValue(value: string): string | ArrayBuffer {
  return isByteString(value) ? (fromByteString(value).buffer as ArrayBuffer) : value
}

function storeValue(v: string | ArrayBuffer): string {
  return typeof v === 'string' ? v : toByteString(new Uint8Array(v))
}

/**
 * The pairs of a query selecting key, value, create_rev, mod_rev, version in that order. Rows are read as
 * arrays: an object per row with named columns (toArray) cost a LIST of 10,000 about 15% more CPU.
 */
function kvsOf(cursor: SqlStorageCursor<Row>): KeyValue[] {
  const kvs: KeyValue[] = []
  for (const [key, value, createRevision, modRevision, version] of cursor.raw<
    [string, string | ArrayBuffer, number, number, number]
  >()) {
    kvs.push({
      key,
      value: typeof value === 'string' ? value : storeValue(value),
      createRevision,
      modRevision,
      version,
    })
  }
  return kvs
}

/** The counters in `meta` (migrations/0001_init.sql, 0002_compaction_due.sql, 0003_fanout_from.sql). */
export type MetaName =
  'revision' | 'compacted' | 'compaction_mark' | 'compaction_due' | 'fanout_from' | 'restoring'

/** A key range: keys starting with `prefix`, strictly after `after` when given. */
export interface Range {
  prefix: string
  after?: string
}

// The range as SQL: the lower bound is `> after` when that is the tighter one. SQLite's BINARY collation
// orders UTF-8 bytes, which is code point order, the order prefixEnd counts in.
function rangeSql(column: string, range: Range): { where: string; args: string[] } {
  const useAfter = range.after !== undefined && range.after >= range.prefix
  const parts = [useAfter ? `${column} > ?` : `${column} >= ?`]
  const args = [useAfter ? range.after! : range.prefix]
  const end = prefixEnd(range.prefix)
  if (end !== undefined) {
    parts.push(`${column} < ?`)
    args.push(end)
  }
  return { where: parts.join(' AND '), args }
}

/**
 * The least string greater than every string starting with prefix (store.ts's prefixEnd, by code
 * point). Undefined when there is none: for '' or a run of U+10FFFF, every greater string starts with prefix.
 */
function prefixEnd(prefix: string): string | undefined {
  const chars = Array.from(prefix)
  while (chars.length > 0) {
    const cp = chars.pop()!.codePointAt(0)!
    if (cp < 0x10ffff) return chars.join('') + String.fromCodePoint(cp + 1)
  }
  return undefined
}

export class Tables {
  constructor(private readonly sql: SqlStorage) {}

  /** How many live keys start with prefix (apiserver_storage_objects). */
  countKeys(prefix: string): number {
    const { where, args } = rangeSql('key', { prefix })
    return this.sql
      .exec<{ n: number }>(`SELECT COUNT(*) AS n FROM kv WHERE ${where}`, ...args)
      .one().n
  }

  // ---- counters ----

  meta(name: MetaName): number {
    return this.sql.exec<{ value: number }>('SELECT value FROM meta WHERE name = ?', name).one()
      .value
  }

  setMeta(name: MetaName, value: number): void {
    this.sql.exec('UPDATE meta SET value = ? WHERE name = ?', value, name)
  }

  /** The current revision: the newest log row, or the one compaction recorded if that row is gone. */
  loadRevision(): number {
    const newest =
      this.sql.exec<{ rev: number | null }>('SELECT max(rev) AS rev FROM log').one().rev ?? 0
    return Math.max(newest, this.meta('revision'))
  }

  /**
   * The newest log row after revision `after` under prefix, 0 when none. It walks the rows after `after`
   * in revision order (the primary key), so it costs the writes since then, whatever their keys: at most
   * `scan` of them, undefined past that.
   */
  lastChange(prefix: string, after: number, scan: number): number | undefined {
    const { where, args } = rangeSql('key', { prefix })
    const r = this.sql
      .exec<{ last: number | null; n: number }>(
        `SELECT max(CASE WHEN ${where} THEN rev END) AS last, count(*) AS n FROM (SELECT rev, key FROM log WHERE rev > ? ORDER BY rev LIMIT ?)`,
        ...args,
        after,
        scan + 1,
      )
      .one()
    return r.n > scan ? undefined : (r.last ?? 0)
  }

  // ---- current state ----

  get(key: string): KeyValue | undefined {
    return kvsOf(
      this.sql.exec('SELECT key, value, create_rev, mod_rev, version FROM kv WHERE key = ?', key),
    )[0]
  }

  listCurrent(range: Range, limit: number): { kvs: KeyValue[]; count: number } {
    const { where, args } = rangeSql('key', range)
    const kvs = kvsOf(
      this.sql.exec(
        `SELECT key, value, create_rev, mod_rev, version FROM kv WHERE ${where} ORDER BY key LIMIT ?`,
        ...args,
        limit,
      ),
    )
    return {
      kvs,
      count: this.countBeyond(
        kvs,
        limit,
        () =>
          this.sql.exec<{ n: number }>(`SELECT count(*) AS n FROM kv WHERE ${where}`, ...args).one()
            .n,
      ),
    }
  }

  /**
   * The range as of `revision`: for each key its newest log row at or below the revision, unless that
   * row is a tombstone (etcd's MVCC range read). Walks log_key_rev in key order, so LIMIT stops the
   * scan early and only the rows returned have their values read.
   */
  listAt(range: Range, revision: number, limit: number): { kvs: KeyValue[]; count: number } {
    const { where, args } = rangeSql('l.key', range)
    const visible = `${where} AND l.rev = (SELECT max(n.rev) FROM log AS n WHERE n.key = l.key AND n.rev <= ?) AND l.value IS NOT NULL`
    const kvs = kvsOf(
      this.sql.exec(
        `SELECT l.key, l.value, l.create_rev, l.rev AS mod_rev, l.version FROM log AS l WHERE ${visible} ORDER BY l.key LIMIT ?`,
        ...args,
        revision,
        limit,
      ),
    )
    return {
      kvs,
      count: this.countBeyond(
        kvs,
        limit,
        () =>
          this.sql
            .exec<{ n: number }>(
              `SELECT count(*) AS n FROM log AS l WHERE ${visible}`,
              ...args,
              revision,
            )
            .one().n,
      ),
    }
  }

  /**
   * A page of a snapshot: keys after `after` as of `revision`, in key order, without the count listAt
   * pays for (a snapshot reads every page; a count per page would read the range again each time).
   */
  pageAt(
    revision: number,
    after: string,
    limit: number,
    maxBytes: number,
  ): { kvs: KeyValue[]; more: boolean } {
    const cursor = this.sql.exec(
      `SELECT l.key, l.value, l.create_rev, l.rev AS mod_rev, l.version FROM log AS l
       WHERE l.key > ? AND l.rev = (SELECT max(n.rev) FROM log AS n WHERE n.key = l.key AND n.rev <= ?)
         AND l.value IS NOT NULL ORDER BY l.key LIMIT ?`,
      after,
      revision,
      limit + 1,
    )
    const kvs: KeyValue[] = []
    let size = 0
    // Cut by size too: an RPC answer of 2,000 values near the 1.5 MiB limit would not fit in memory.
    for (const [key, value, createRevision, modRevision, version] of cursor.raw<
      [string, string | ArrayBuffer, number, number, number]
    >()) {
      if (kvs.length === limit || (kvs.length > 0 && size >= maxBytes)) return { kvs, more: true }
      const v = typeof value === 'string' ? value : storeValue(value)
      kvs.push({ key, value: v, createRevision, modRevision, version })
      size += v.length
    }
    return { kvs, more: false }
  }

  // ---- restore (the caller holds transactionSync) ----

  /** Empties the current state and the history: a restore starts from nothing. */
  wipe(): void {
    this.sql.exec('DELETE FROM kv')
    this.sql.exec('DELETE FROM log')
    this.sql.exec('DELETE FROM revision_times')
  }

  /** The history's newest row (during a restore: the newest record restored so far). */
  newestRecord(): { key: string; rev: number } | undefined {
    return this.sql
      .exec<{ key: string; rev: number }>('SELECT key, rev FROM log ORDER BY rev DESC LIMIT 1')
      .toArray()[0]
  }

  /** Pairs with their own revisions, each its current row and its one history row. */
  restore(kvs: KeyValue[]): void {
    for (const kv of kvs) {
      this.sql.exec(
        'INSERT INTO kv (key, value, create_rev, mod_rev, version) VALUES (?, ?, ?, ?, ?)',
        kv.key,
        columnValue(kv.value),
        kv.createRevision,
        kv.modRevision,
        kv.version,
      )
      this.sql.exec(
        'INSERT INTO log (rev, key, value, create_rev, version, prev_rev) VALUES (?, ?, ?, ?, ?, NULL)',
        kv.modRevision,
        kv.key,
        columnValue(kv.value),
        kv.createRevision,
        kv.version,
      )
    }
  }

  // ---- time → revision, for point-in-time restore ----

  /** Records that `revision` was current at `ms` (the newest write of a second wins). */
  recordTime(ms: number, revision: number): void {
    this.sql.exec(
      `INSERT INTO revision_times (second, revision) VALUES (?, ?)
       ON CONFLICT (second) DO UPDATE SET revision = excluded.revision`,
      Math.floor(ms / 1000),
      revision,
    )
  }

  /** The revision current at the end of the second `ms` falls in; undefined before the first record. */
  revisionAt(ms: number): number | undefined {
    const row = this.sql
      .exec<{ revision: number }>(
        'SELECT revision FROM revision_times WHERE second <= ? ORDER BY second DESC LIMIT 1',
        Math.floor(ms / 1000),
      )
      .toArray()[0]
    return row?.revision
  }

  pruneTimes(beforeMs: number): void {
    this.sql.exec('DELETE FROM revision_times WHERE second < ?', Math.floor(beforeMs / 1000))
  }

  /** A range's size: a page short of its limit is the whole range, so only a full page pays for a count query. */
  private countBeyond(page: KeyValue[], limit: number, count: () => number): number {
    return limit < 0 || page.length < limit ? page.length : count()
  }

  // ---- writes (the caller holds transactionSync) ----

  /** Records a create or update at kv.modRevision; `prev` is the pair it replaces. */
  put(kv: KeyValue, prev: KeyValue | undefined): void {
    this.sql.exec(
      `INSERT INTO kv (key, value, create_rev, mod_rev, version) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (key) DO UPDATE SET value = excluded.value, mod_rev = excluded.mod_rev, version = excluded.version`,
      kv.key,
      columnValue(kv.value),
      kv.createRevision,
      kv.modRevision,
      kv.version,
    )
    this.sql.exec(
      'INSERT INTO log (rev, key, value, create_rev, version, prev_rev) VALUES (?, ?, ?, ?, ?, ?)',
      kv.modRevision,
      kv.key,
      columnValue(kv.value),
      kv.createRevision,
      kv.version,
      prev?.modRevision ?? null,
    )
  }

  /** Records the deletion of `prev` at `revision` as a tombstone. */
  remove(prev: KeyValue, revision: number): void {
    this.sql.exec('DELETE FROM kv WHERE key = ?', prev.key)
    this.sql.exec(
      'INSERT INTO log (rev, key, value, create_rev, version, prev_rev) VALUES (?, ?, NULL, ?, ?, ?)',
      revision,
      prev.key,
      prev.createRevision,
      prev.version,
      prev.modRevision,
    )
  }

  /**
   * Removes the history not needed to read at revisions >= `to`: rows superseded by a later row of
   * the same key at or below `to`, and tombstones at or below `to` (etcd's compaction keeps, per key,
   * the newest revision at or below the compact revision, unless it is a tombstone). Rows at or below
   * `from` were compacted before, so only rows in (from, to] can supersede anything new.
   */
  compact(from: number, to: number, revision: number): void {
    this.sql.exec(
      `DELETE FROM log WHERE rev IN (
         SELECT older.rev FROM log AS newer JOIN log AS older ON older.key = newer.key AND older.rev < newer.rev
         WHERE newer.rev > ? AND newer.rev <= ?)`,
      from,
      to,
    )
    this.sql.exec('DELETE FROM log WHERE rev > ? AND rev <= ? AND value IS NULL', from, to)
    this.setMeta('compacted', to)
    this.setMeta('revision', revision)
  }

  // ---- history for watchers ----

  /**
   * Events after `after` under `range`, oldest first, up to `maxEvents` events or about `maxSize` of
   * encoded events. `through` is the revision the read is complete up to: `current` when it ran out of rows.
   */
  readLog(
    range: Range,
    after: number,
    current: number,
    maxEvents: number,
    maxSize: number,
  ): { events: LogEvent[]; through: number } {
    // Driven by revision (the primary key): '+' keeps SQLite off log_key_rev, which would read every
    // row under the prefix and sort them to find the few after `after`.
    const { where, args } = rangeSql('+l.key', range)
    const cursor = this.sql.exec<LogRow>(
      `SELECT l.rev, l.key, l.value, l.create_rev, l.version, l.prev_rev, p.value AS prev_value
       FROM log AS l LEFT JOIN log AS p ON p.rev = l.prev_rev
       WHERE l.rev > ? AND ${where} ORDER BY l.rev LIMIT ?`,
      after,
      ...args,
      maxEvents,
    )
    const events: LogEvent[] = []
    let size = 0
    for (const row of cursor) {
      const json = JSON.stringify(logRowEvent(row))
      events.push({ rev: row.rev, key: row.key, json })
      size += json.length
      if (size >= maxSize) break
    }
    const full = events.length === maxEvents || size >= maxSize
    return { events, through: full ? events[events.length - 1].rev : current }
  }
}

function logRowEvent(r: LogRow): WireEvent {
  const prev: KeyValue | undefined =
    r.prev_rev === null
      ? undefined
      : {
          key: r.key,
          value: storeValue(r.prev_value ?? ''),
          createRevision: r.create_rev,
          modRevision: r.prev_rev,
          version: r.version - 1,
        }
  const kv: KeyValue = {
    key: r.key,
    value: storeValue(r.value ?? ''),
    createRevision: r.create_rev,
    modRevision: r.rev,
    version: r.version,
  }
  return encodeEvent(kv, prev, r.value === null)
}
