// The audit log backend of Node mode (plugin/pkg/audit/log over gopkg.in/natefinch/lumberjack, as
// kube-apiserver's --audit-log-path writes it): one JSON event per line, written synchronously (the
// blocking mode), so that nothing taken is lost when the process stops. Past --audit-log-maxsize MB the
// file is renamed to <name>-<UTC time><ext> and a new one started; backups beyond --audit-log-maxbackup
// or older than --audit-log-maxage days are removed.
import {
  closeSync,
  fstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  renameSync,
  unlinkSync,
  writeSync,
} from 'node:fs'
import { basename, dirname, extname, join } from 'node:path'
import type { AuditBackend } from '../audit/backend'
import { errorText } from '../util/errors'

/** lumberjack's size when MaxSize is 0. */
const DEFAULT_MAX_SIZE_MB = 100
const MB = 1024 * 1024
const DAY_MS = 24 * 60 * 60 * 1000

export interface RotationOptions {
  maxAgeDays: number
  maxBackups: number
  /** Megabytes; 0 takes lumberjack's default (100). */
  maxSizeMB: number
  /** Bytes, overriding maxSizeMB (tests). */
  maxSizeBytes?: number
}

export class RotatingFile {
  private fd: number | undefined
  private size = 0
  private readonly maxSize: number

  constructor(
    readonly path: string,
    private readonly opts: RotationOptions,
  ) {
    this.maxSize = opts.maxSizeBytes ?? (opts.maxSizeMB || DEFAULT_MAX_SIZE_MB) * MB
    mkdirSync(dirname(path), { recursive: true })
    this.open()
  }

  private open(): void {
    // lumberjack opens with 0600 for a new file and appends to an existing one.
    this.fd = openSync(this.path, 'a', 0o600)
    this.size = fstatSync(this.fd).size
  }

  write(line: string): void {
    const bytes = Buffer.from(line + '\n')
    if (this.size + bytes.length > this.maxSize && this.size > 0) this.rotate()
    let off = 0
    while (off < bytes.length) off += writeSync(this.fd!, bytes, off)
    this.size += bytes.length
  }

  private rotate(): void {
    closeSync(this.fd!)
    this.fd = undefined
    renameSync(this.path, this.backupName(new Date()))
    this.open()
    this.removeOld()
  }

  /** lumberjack's backupName: 2006-01-02T15-04-05.000 in UTC between the name and its extension. */
  private backupName(t: Date): string {
    const ext = extname(this.path)
    const prefix = basename(this.path, ext)
    const stamp = t.toISOString().slice(0, 23).replace(/:/g, '-')
    return join(dirname(this.path), `${prefix}-${stamp}${ext}`)
  }

  private backups(): { path: string; time: number }[] {
    const ext = extname(this.path)
    const prefix = basename(this.path, ext) + '-'
    const dir = dirname(this.path)
    const out: { path: string; time: number }[] = []
    for (const name of readdirSync(dir)) {
      if (!name.startsWith(prefix) || !name.endsWith(ext)) continue
      const stamp = name.slice(prefix.length, name.length - ext.length)
      const m = /^(\d{4}-\d{2}-\d{2})T(\d{2})-(\d{2})-(\d{2})\.(\d{3})$/.exec(stamp)
      if (!m) continue
      out.push({
        path: join(dir, name),
        time: Date.parse(`${m[1]}T${m[2]}:${m[3]}:${m[4]}.${m[5]}Z`),
      })
    }
    return out.sort((a, b) => b.time - a.time)
  }

  private removeOld(): void {
    let backups = this.backups()
    const remove: string[] = []
    if (this.opts.maxBackups > 0 && backups.length > this.opts.maxBackups) {
      remove.push(...backups.slice(this.opts.maxBackups).map((b) => b.path))
      backups = backups.slice(0, this.opts.maxBackups)
    }
    if (this.opts.maxAgeDays > 0) {
      const cutoff = Date.now() - this.opts.maxAgeDays * DAY_MS
      remove.push(...backups.filter((b) => b.time < cutoff).map((b) => b.path))
    }
    for (const p of remove) {
      try {
        unlinkSync(p)
      } catch {
        // Gone already.
      }
    }
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd)
    this.fd = undefined
  }
}

/** --audit-log-path: a file with rotation, or "-" for standard out. */
export class AuditLogBackend implements AuditBackend {
  readonly name = 'log'
  private readonly file?: RotatingFile
  private closed = false

  constructor(
    path: string,
    rotation: RotationOptions,
    private readonly onError: (message: string) => void = (m) => console.error(m),
  ) {
    if (path !== '-') this.file = new RotatingFile(path, rotation)
  }

  /** false when a line could not be written (the log backend's ProcessEvents). */
  processEvents(events: string[]): boolean {
    if (this.closed) return false
    try {
      for (const e of events) {
        if (this.file) this.file.write(e)
        else writeSync(1, e + '\n')
      }
      return true
    } catch (e) {
      this.onError(
        `Error in audit plugin 'log' affecting ${events.length} audit events: ${errorText(e)}`,
      )
      return false
    }
  }

  async shutdown(): Promise<void> {
    this.closed = true
    this.file?.close()
  }
}
