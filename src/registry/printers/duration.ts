// k8s.io/apimachinery/pkg/util/duration.HumanDuration and the printers' timestamp helpers.

/** ~2–3 significant figures of a duration, as kubectl's AGE column shows it. */
export function humanDuration(ms: number): string {
  const seconds = Math.trunc(ms / 1000)
  // Up to 2s of clock skew reads as "now".
  if (seconds < -1) return '<invalid>'
  if (seconds < 0) return '0s'
  if (seconds < 60 * 2) return `${seconds}s`
  const minutes = Math.trunc(seconds / 60)
  if (minutes < 10) {
    const s = seconds % 60
    return s === 0 ? `${minutes}m` : `${minutes}m${s}s`
  }
  if (minutes < 60 * 3) return `${minutes}m`
  const hours = Math.trunc(minutes / 60)
  if (hours < 8) {
    const m = minutes % 60
    return m === 0 ? `${hours}h` : `${hours}h${m}m`
  }
  if (hours < 48) return `${hours}h`
  if (hours < 24 * 8) {
    const h = hours % 24
    return h === 0 ? `${Math.trunc(hours / 24)}d` : `${Math.trunc(hours / 24)}d${h}h`
  }
  if (hours < 24 * 365 * 2) return `${Math.trunc(hours / 24)}d`
  if (hours < 24 * 365 * 8) {
    const dy = Math.trunc(hours / 24) % 365
    return dy === 0 ? `${Math.trunc(hours / 24 / 365)}y` : `${Math.trunc(hours / 24 / 365)}y${dy}d`
  }
  return `${Math.trunc(hours / 24 / 365)}y`
}

/** translateTimestampSince: "<unknown>" for a missing time. */
export function since(timestamp: unknown, now: number = Date.now()): string {
  if (typeof timestamp !== 'string' || !timestamp) return '<unknown>'
  const t = Date.parse(timestamp)
  if (Number.isNaN(t)) return '<unknown>'
  return humanDuration(now - t)
}

/** The duration between two timestamps (a Job's DURATION once complete). */
export function between(start: string, end: string): string {
  return humanDuration(Date.parse(end) - Date.parse(start))
}
