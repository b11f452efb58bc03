// Processes the bench starts: each in its own process group, stopped by that group's id, and all of
// them stopped on exit, on a signal and on failure. Memory is read from /proc for a whole process tree.
import { execFileSync, spawn } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import { createServer } from 'node:net'

const started = new Set()

/** spawn() in a new process group (detached), remembered so that stopAll() ends it. */
export function startProcess(cmd, args, opts = {}) {
  const child = spawn(cmd, args, { ...opts, detached: true, stdio: opts.stdio ?? ['ignore', 'pipe', 'pipe'] })
  const proc = {
    child,
    pid: child.pid,
    output: '',
    exited: false,
    exitCode: undefined,
    async stop(timeoutMs = 8000) {
      if (proc.exited) return
      signalGroup(proc.pid, 'SIGTERM')
      const done = await Promise.race([proc.exit, sleep(timeoutMs).then(() => false)])
      if (done === false) signalGroup(proc.pid, 'SIGKILL')
      // members of the group that outlive its leader (workerd under wrangler)
      await sleep(200)
      signalGroup(proc.pid, 'SIGKILL')
      started.delete(proc)
    },
  }
  const keep = (d) => {
    proc.output += d
    if (proc.output.length > 64_000) proc.output = proc.output.slice(-32_000)
    if (opts.echo) process.stderr.write(d)
  }
  child.stdout?.setEncoding('utf8').on('data', keep)
  child.stderr?.setEncoding('utf8').on('data', keep)
  proc.exit = new Promise((resolve) => child.on('exit', (code, signal) => {
    proc.exited = true
    proc.exitCode = code ?? signal
    resolve(true)
  }))
  child.on('error', (err) => { proc.output += `\n${err.stack}` })
  started.add(proc)
  return proc
}

function signalGroup(pgid, signal) {
  try {
    process.kill(-pgid, signal)
  } catch {
    // the group is gone
  }
}

/** Ends every process group this run started (synchronously: also usable in an 'exit' handler). */
export function killAll() {
  for (const p of started) signalGroup(p.pid, 'SIGKILL')
  started.clear()
}

export async function stopAll() {
  await Promise.all([...started].map((p) => p.stop(3000)))
}

let hooked = false
export function installCleanup() {
  if (hooked) return
  hooked = true
  process.on('exit', killAll)
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.on(sig, () => {
      killAll()
      process.exit(130)
    })
  }
  process.on('uncaughtException', (err) => {
    console.error(err)
    killAll()
    process.exit(1)
  })
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

/** A TCP port free on 127.0.0.1 right now. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address()
      s.close(() => resolve(port))
    })
  })
}

// ---- CPU time from /proc ----------------------------------------------------------------------

/** Clock ticks per second of /proc/<pid>/stat's times (USER_HZ: 100 on Linux). */
const TICKS_PER_S = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100
  } catch {
    return 100
  }
})()

/**
 * CPU time this virtual machine's cores were ready to run but the hypervisor ran another guest
 * (/proc/stat's steal), ms summed over the cores: a noisy neighbour slows every figure taken meanwhile.
 */
export function machineStealMs() {
  try {
    // cpu user nice system idle iowait irq softirq steal ...
    const fields = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0].trim().split(/\s+/)
    return (Number(fields[8]) * 1000) / TICKS_PER_S
  } catch {
    return 0
  }
}

/** User + system CPU time a process has used so far, in ms (0 once it is gone). */
export function processCpuMs(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // after "pid (comm) ": state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return ((Number(rest[11]) + Number(rest[12])) * 1000) / TICKS_PER_S
  } catch {
    return 0
  }
}

/**
 * CPU ms used so far by each process of a tree: [{pid, comm, cpuMs}]. A delta of two readings is what the
 * tree spent in between (a member that exited in between is not counted: the servers' members live on).
 */
export function treeCpu(rootPid) {
  return treeMembers(rootPid).map((m) => ({ pid: m.pid, comm: m.comm, cpuMs: processCpuMs(m.pid) }))
}

// ---- memory from /proc -------------------------------------------------------------------------

const PAGE = 4096

function children() {
  const byParent = new Map()
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8')
      // pid (comm) state ppid ...: comm may hold spaces and parentheses
      const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      const ppid = Number(rest[1])
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'))
      if (!byParent.has(ppid)) byParent.set(ppid, [])
      byParent.get(ppid).push({ pid: Number(name), comm })
    } catch {
      // exited meanwhile
    }
  }
  return byParent
}

/** The processes of the tree rooted at pid: [{pid, comm, rss (bytes)}]. */
export function treeMembers(rootPid) {
  const byParent = children()
  const out = []
  const visit = (pid, comm) => {
    let rss = 0
    try {
      rss = Number(readFileSync(`/proc/${pid}/statm`, 'utf8').split(' ')[1]) * PAGE
    } catch {
      return
    }
    out.push({ pid, comm, rss })
    for (const c of byParent.get(pid) ?? []) visit(c.pid, c.comm)
  }
  let rootComm = ''
  try {
    const stat = readFileSync(`/proc/${rootPid}/stat`, 'utf8')
    rootComm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'))
  } catch {
    return out
  }
  visit(rootPid, rootComm)
  return out
}

/** RSS of a tree now: {total, byComm: {workerd, node, ...}} in bytes. */
export function treeRss(rootPid) {
  const byComm = {}
  let total = 0
  for (const m of treeMembers(rootPid)) {
    total += m.rss
    byComm[m.comm] = (byComm[m.comm] ?? 0) + m.rss
  }
  return { total, byComm }
}

/**
 * Samples the RSS of process trees every intervalMs until stop(); stop() returns the peak of each
 * tree's total and of each command name within it.
 */
export function memorySampler(roots, intervalMs = 100) {
  const peak = {}
  const sample = () => {
    for (const [label, pid] of Object.entries(roots)) {
      if (!pid) continue
      const { total, byComm } = treeRss(pid)
      const p = (peak[label] ??= { total: 0, byComm: {} })
      p.total = Math.max(p.total, total)
      for (const [c, v] of Object.entries(byComm)) p.byComm[c] = Math.max(p.byComm[c] ?? 0, v)
    }
  }
  sample()
  const timer = setInterval(sample, intervalMs)
  return {
    stop() {
      clearInterval(timer)
      sample()
      return peak
    },
  }
}
