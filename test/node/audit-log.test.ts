// --audit-log-path's rotation, as lumberjack does it for kube-apiserver: past the size the file is renamed
// with its UTC time, a new one is started, and backups beyond --audit-log-maxbackup go.
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { AuditLogBackend, RotatingFile } from '../../src/node/audit-log'

let dir = ''
afterEach(() => rmSync(dir, { recursive: true, force: true }))

describe('audit log rotation', () => {
  it('renames a full file to <name>-<UTC time><ext> and keeps maxbackup of them', async () => {
    dir = mkdtempSync(join(tmpdir(), 'audit-log-'))
    const path = join(dir, 'audit.log')
    const file = new RotatingFile(path, {
      maxAgeDays: 0,
      maxBackups: 2,
      maxSizeMB: 0,
      maxSizeBytes: 100,
    })
    const line = 'x'.repeat(59) // 60 bytes with its newline: one line per file
    for (let i = 0; i < 5; i++) {
      file.write(`${i}${line.slice(1)}`)
      await new Promise((r) => setTimeout(r, 5)) // distinct millisecond stamps
    }
    file.close()
    const names = readdirSync(dir).sort()
    expect(names).toHaveLength(3)
    expect(names).toContain('audit.log')
    const backups = names.filter((n) => n !== 'audit.log')
    for (const b of backups) expect(b).toMatch(/^audit-\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d\.\d{3}\.log$/)
    // The newest backups stay: lines 2 and 3; the live file holds line 4.
    expect(backups.map((b) => readFileSync(join(dir, b), 'utf8')[0])).toEqual(['2', '3'])
    expect(readFileSync(path, 'utf8')[0]).toBe('4')
  })

  it('appends to an existing file and removes backups older than maxage days', () => {
    dir = mkdtempSync(join(tmpdir(), 'audit-log-'))
    const path = join(dir, 'audit.log')
    writeFileSync(join(dir, 'audit-2001-01-01T00-00-00.000.log'), 'old\n')
    writeFileSync(path, 'before\n')
    const log = new AuditLogBackend(path, {
      maxAgeDays: 1,
      maxBackups: 0,
      maxSizeMB: 0,
      maxSizeBytes: 20,
    })
    log.processEvents(['{"a":1}', '{"b":2}'])
    void log.shutdown()
    const names = readdirSync(dir)
    expect(names).not.toContain('audit-2001-01-01T00-00-00.000.log')
    const backup = names.find((n) => n !== 'audit.log')!
    expect(readFileSync(join(dir, backup), 'utf8')).toBe('before\n{"a":1}\n')
    expect(readFileSync(path, 'utf8')).toBe('{"b":2}\n')
  })
})
