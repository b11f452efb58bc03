// The process_* metrics the Prometheus Go client's process collector gives kube-apiserver, from what
// Node knows of its own process (Linux /proc for descriptors and virtual memory). Go runtime metrics
// (go_*) have no Node equivalent and are not served.
import { readdirSync, readFileSync } from 'node:fs'
import { Counter, Gauge, Registry } from '../metrics/registry'

const gauge = (name: string, help: string) =>
  new Gauge({ name, help, stability: 'ALPHA', labelNames: [] })

export function processMetrics(): () => Registry[] {
  const r = new Registry()
  const cpu = r.register(
    new Counter({
      name: 'process_cpu_seconds_total',
      help: 'Total user and system CPU time spent in seconds.',
      stability: 'ALPHA',
      labelNames: [],
    }),
  )
  const rss = r.register(gauge('process_resident_memory_bytes', 'Resident memory size in bytes.'))
  const vsize = r.register(gauge('process_virtual_memory_bytes', 'Virtual memory size in bytes.'))
  const start = r.register(
    gauge('process_start_time_seconds', 'Start time of the process since unix epoch in seconds.'),
  )
  const openFds = r.register(gauge('process_open_fds', 'Number of open file descriptors.'))
  const maxFds = r.register(gauge('process_max_fds', 'Maximum number of open file descriptors.'))
  const startedAt = Math.round((Date.now() - performance.now()) / 10) / 100
  return () => {
    const usage = process.cpuUsage()
    cpu.reset()
    cpu.inc([], (usage.user + usage.system) / 1e6)
    rss.set([], process.memoryUsage.rss())
    start.set([], startedAt)
    try {
      openFds.set([], readdirSync('/proc/self/fd').length)
      const limit = /^Max open files\s+(\d+)/m.exec(readFileSync('/proc/self/limits', 'utf8'))
      if (limit) maxFds.set([], Number(limit[1]))
      // /proc/self/stat field 23 is vsize; the command name (field 2) may hold spaces, so count after ')'.
      const stat = readFileSync('/proc/self/stat', 'utf8')
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      vsize.set([], Number(fields[20]))
    } catch {
      // not Linux: those three stay unset and are not served
    }
    return [r]
  }
}
