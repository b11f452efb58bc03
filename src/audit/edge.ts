// Audit at the edge: the policy from the AUDIT_POLICY var or secret (the --audit-policy-file's text), and
// two backends. Workers Logs: each event is written with console.log as one JSON line, kube's log format,
// which Workers Logs keeps (and Logpush can ship to R2 or elsewhere) beyond the isolate that wrote it;
// locally wrangler dev prints it. A webhook (AUDIT_WEBHOOK_CONFIG, a kubeconfig's text): kube's batched
// EventList POSTs, a batch held at most AUDIT_WEBHOOK_BATCH_MAX_WAIT (1s by default, not kube's 30s:
// the isolate keeps a request's delivery going with waitUntil, which lasts 30s past the response).
import { yamlToJson } from '../api/yaml'
import { parseGoDuration } from '../go/duration'
import type { ApiserverMetrics } from '../metrics/apiserver'
import { internalError } from '../server/errors'
import type { AuditConfig } from '../server/filters/audit'
import {
  BufferedWebhookBackend,
  DEFAULT_WEBHOOK_BATCH,
  LineBackend,
  parseWebhookKubeconfig,
  UnionBackend,
  type AuditBackend,
  type BatchConfig,
} from './backend'
import { parsePolicy, PolicyRuleEvaluator } from './policy'
import { errorText } from '../util/errors'

export interface AuditEnv {
  /** The audit policy (audit.k8s.io Policy, YAML or JSON); unset: nothing is audited. */
  AUDIT_POLICY?: string
  /** "false": no events to Workers Logs (when the webhook is the only backend wanted). */
  AUDIT_LOG?: string
  /** A kubeconfig naming the audit webhook (--audit-webhook-config-file's contents). */
  AUDIT_WEBHOOK_CONFIG?: string
  /** --audit-webhook-batch-max-size (400). */
  AUDIT_WEBHOOK_BATCH_MAX_SIZE?: string
  /** --audit-webhook-batch-max-wait, a Go duration (1s here). */
  AUDIT_WEBHOOK_BATCH_MAX_WAIT?: string
  /** --audit-webhook-initial-backoff, a Go duration (1s here: retries must end within waitUntil). */
  AUDIT_WEBHOOK_INITIAL_BACKOFF?: string
}

const EDGE_BATCH: BatchConfig = {
  ...DEFAULT_WEBHOOK_BATCH,
  maxBatchWaitMs: 1000,
  initialBackoffMs: 1000,
}

let cached: { env: AuditEnv; source: string; config: AuditConfig | undefined } | undefined

/**
 * The isolate's audit configuration, rebuilt only when the bindings change. The backends serve every
 * cluster: their failures (apiserver_audit_error_total) are counted in `errors`, the default cluster's.
 */
export function auditFromEnv(env: AuditEnv, errors: ApiserverMetrics): AuditConfig | undefined {
  // The same bindings object from request to request (the isolate's): nothing to compare.
  if (cached && cached.env === env) return cached.config
  const source = JSON.stringify([
    env.AUDIT_POLICY,
    env.AUDIT_LOG,
    env.AUDIT_WEBHOOK_CONFIG,
    env.AUDIT_WEBHOOK_BATCH_MAX_SIZE,
    env.AUDIT_WEBHOOK_BATCH_MAX_WAIT,
    env.AUDIT_WEBHOOK_INITIAL_BACKOFF,
  ])
  if (cached?.source !== source) cached = { env, source, config: build(env, errors) }
  else cached.env = env
  return cached.config
}

function build(env: AuditEnv, errors: ApiserverMetrics): AuditConfig | undefined {
  if (!env.AUDIT_POLICY) return undefined
  // A policy kube-apiserver would refuse to start with: no request is served unaudited.
  const fail = (what: string, e: unknown) => internalError(new Error(`${what}: ${errorText(e)}`))
  let evaluator: PolicyRuleEvaluator
  try {
    evaluator = new PolicyRuleEvaluator(parsePolicy(env.AUDIT_POLICY))
  } catch (e) {
    throw fail('loading audit policy from AUDIT_POLICY', e)
  }
  const backends: AuditBackend[] = []
  if (env.AUDIT_LOG !== 'false') backends.push(new LineBackend((line) => console.log(line)))
  if (env.AUDIT_WEBHOOK_CONFIG) {
    let target
    let batch: BatchConfig
    try {
      target = parseWebhookKubeconfig(
        (yamlToJson(env.AUDIT_WEBHOOK_CONFIG) ?? {}) as Record<string, unknown>,
      )
      batch = {
        ...EDGE_BATCH,
        ...(env.AUDIT_WEBHOOK_BATCH_MAX_SIZE
          ? { maxBatchSize: Number(env.AUDIT_WEBHOOK_BATCH_MAX_SIZE) }
          : {}),
        ...(env.AUDIT_WEBHOOK_BATCH_MAX_WAIT
          ? { maxBatchWaitMs: parseGoDuration(env.AUDIT_WEBHOOK_BATCH_MAX_WAIT) }
          : {}),
        ...(env.AUDIT_WEBHOOK_INITIAL_BACKOFF
          ? { initialBackoffMs: parseGoDuration(env.AUDIT_WEBHOOK_INITIAL_BACKOFF) }
          : {}),
      }
      if (!(batch.maxBatchSize > 0))
        throw new Error(
          `invalid audit batch webhook max batch size ${env.AUDIT_WEBHOOK_BATCH_MAX_SIZE}, must be a positive number`,
        )
    } catch (e) {
      throw fail('AUDIT_WEBHOOK_CONFIG', e)
    }
    backends.push(
      new BufferedWebhookBackend(
        { ...target, fetch: (input, init) => fetch(input, init) },
        batch,
        (m) => console.error(m),
        (n) => errors.auditErrorTotal.inc(['webhook'], n),
      ),
    )
  }
  if (!backends.length) return undefined
  return {
    evaluator,
    backend: backends.length === 1 ? backends[0]! : new UnionBackend(backends),
  }
}
