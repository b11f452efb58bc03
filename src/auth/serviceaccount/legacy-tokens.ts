// The tokens controller's half that fills kubernetes.io/service-account-token Secrets (pkg/controller/serviceaccount/
// tokens_controller.go): a Secret naming an existing service account gets data.token, data["ca.crt"] and
// data.namespace, and the service account's uid annotation, as it is created.
import type { KubeObject, RequestContext, Strategy } from '../../registry/types'
import type { Store } from '../../storage/store'
import { encodeBase64, objectKeys, readObject } from './tokens'

export const SERVICE_ACCOUNT_TOKEN_TYPE = 'kubernetes.io/service-account-token'
export const SA_NAME_ANNOTATION = 'kubernetes.io/service-account.name'
export const SA_UID_ANNOTATION = 'kubernetes.io/service-account.uid'

export async function fillServiceAccountToken(
  obj: KubeObject,
  store: Store,
  ctx?: RequestContext,
): Promise<void> {
  if (obj.type !== SERVICE_ACCOUNT_TOKEN_TYPE) return
  const tokens = ctx?.auth?.serviceAccountTokens
  if (!tokens?.canSign) return
  const meta = obj.metadata ?? {}
  const saName = meta.annotations?.[SA_NAME_ANNOTATION]
  const namespace = meta.namespace
  if (!saName || !namespace || !meta.name) return
  const data = (obj.data ?? {}) as Record<string, string>
  if (data.token) return
  // Like the controller: a secret for a service account that does not exist (or not with that uid) gets no token.
  const sa = await readObject(store, objectKeys.serviceAccount(namespace, saName))
  const uid = sa?.metadata?.uid
  if (!sa || !uid) return
  const wantedUid = meta.annotations?.[SA_UID_ANNOTATION]
  if (wantedUid && wantedUid !== uid) return
  const token = await tokens.issueLegacy(namespace, { name: saName, uid }, meta.name)
  meta.annotations = { ...meta.annotations, [SA_UID_ANNOTATION]: uid }
  obj.data = {
    ...data,
    token: encodeBase64(token),
    'ca.crt': encodeBase64(ctx?.auth?.rootCA ?? ''),
    namespace: encodeBase64(namespace),
  }
}

/** The Secret strategy with the token filled in before the Secret is stored. */
export function withServiceAccountTokenFill(strategy: Strategy): Strategy {
  const before = strategy.beforeCreate
  return {
    ...strategy,
    async beforeCreate(obj, store, ctx) {
      await before?.call(strategy, obj, store, ctx)
      await fillServiceAccountToken(obj, store, ctx)
    },
  }
}
