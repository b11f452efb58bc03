// core/v1 ServiceAccount.
import { col } from '../printers/format'
import { defineKind, printer } from './define'

export const serviceaccounts = defineKind({
  group: '',
  version: 'v1',
  resource: 'serviceaccounts',
  kind: 'ServiceAccount',
  namespaced: true,
  shortNames: ['sa'],
  returnDeletedObject: true,
  schema: 'CoreV1ServiceAccount',
  strategy: {
    printer: printer(
      [
        col(
          'Secrets',
          'string',
          'Secrets is a list of the secrets in the same namespace that pods running using this ServiceAccount are allowed to use. Pods are only limited to this list if this service account has a "kubernetes.io/enforce-mountable-secrets" annotation set to "true". The "kubernetes.io/enforce-mountable-secrets" annotation is deprecated since v1.32. Prefer separate namespaces to isolate access to mounted secrets. This field should not be used to find auto-generated service account token secrets for use outside of pods. Instead, tokens can be requested directly using the TokenRequest API, or service account token secrets can be manually created. More info: https://kubernetes.io/docs/concepts/configuration/secret',
        ),
      ],
      (o) => [Array.isArray(o.secrets) ? o.secrets.length : 0],
    ),
  },
})
