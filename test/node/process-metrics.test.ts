// Node mode's process_* metrics (src/node/process-metrics.ts), which the edge cannot give.
import { describe, expect, it } from 'vitest'
import { processMetrics } from '../../src/node/process-metrics'

describe('process metrics', () => {
  it("serves the Go client's process collector series from this process", () => {
    const text = processMetrics()()[0]!.render()
    const value = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1])
    expect(text).toContain('# TYPE process_cpu_seconds_total counter')
    expect(value('process_cpu_seconds_total')).toBeGreaterThan(0)
    expect(value('process_resident_memory_bytes')).toBeGreaterThan(1024 * 1024)
    expect(value('process_virtual_memory_bytes')).toBeGreaterThanOrEqual(
      value('process_resident_memory_bytes'),
    )
    expect(
      Math.abs(value('process_start_time_seconds') - (Date.now() - performance.now()) / 1000),
    ).toBeLessThan(1)
    expect(value('process_open_fds')).toBeGreaterThan(2)
    expect(value('process_max_fds')).toBeGreaterThanOrEqual(value('process_open_fds'))
  })
})
