// Schema migrations, applied in order by the ClusterStore constructor; each is recorded so it runs once.
// Add a file under migrations/ and a line here: the bundler only includes what is imported.
import init from '../../../migrations/0001_init.sql'
import compactionDue from '../../../migrations/0002_compaction_due.sql'
import fanoutFrom from '../../../migrations/0003_fanout_from.sql'
import metrics from '../../../migrations/0004_metrics.sql'
import snapshots from '../../../migrations/0005_snapshots.sql'

export interface Migration {
  name: string
  sql: string
}

export const MIGRATIONS: readonly Migration[] = [
  { name: '0001_init', sql: init },
  { name: '0002_compaction_due', sql: compactionDue },
  { name: '0003_fanout_from', sql: fanoutFrom },
  { name: '0004_metrics', sql: metrics },
  { name: '0005_snapshots', sql: snapshots },
]

/** Applies the migrations not yet recorded, each in its own transaction. Returns the names applied. */
export function applyMigrations(
  storage: DurableObjectStorage,
  migrations: readonly Migration[] = MIGRATIONS,
): string[] {
  const sql = storage.sql
  sql.exec(
    'CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY, applied_at INTEGER NOT NULL)',
  )
  const done = new Set(
    sql
      .exec<{ name: string }>('SELECT name FROM schema_migrations')
      .toArray()
      .map((r) => r.name),
  )
  const applied: string[] = []
  for (const m of migrations) {
    if (done.has(m.name)) continue
    storage.transactionSync(() => {
      sql.exec(m.sql)
      sql.exec('INSERT INTO schema_migrations (name, applied_at) VALUES (?, ?)', m.name, Date.now())
    })
    applied.push(m.name)
  }
  return applied
}
