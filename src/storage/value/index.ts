// Encryption at rest for a Store, from kube-apiserver's EncryptionConfiguration text: the
// --encryption-provider-config file in Node mode, the ENCRYPTION_PROVIDER_CONFIG Worker secret at the edge
// (read by the Worker and by the ClusterStore Durable Object's control loops alike).
import type { Store } from '../store'
import { EncryptionConfigError, parseEncryptionConfiguration } from './encryption-config'
import { ResourceTransformers, type TransformerOptions } from './transformer'
import { storageResources, TransformingStore } from './transforming-store'
import { errorText } from '../../util/errors'

export { EncryptionConfigError } from './encryption-config'
export { TransformingStore } from './transforming-store'

interface StoredTypes {
  all(): readonly {
    group: string
    resource: string
    storagePrefix: string
    convert?: unknown
    virtualCreate?: unknown
  }[]
}

/**
 * The transformers of a configuration text; a configuration kube would refuse throws with kube's message,
 * prefixed as kube-apiserver's LoadEncryptionConfig prefixes it.
 */
export function loadEncryptionConfiguration(
  text: string,
  source: string,
  opts: TransformerOptions = {},
): ResourceTransformers {
  try {
    return new ResourceTransformers(parseEncryptionConfiguration(text, source), opts)
  } catch (e) {
    throw new EncryptionConfigError(`error while parsing file: ${errorText(e)}`)
  }
}

// Per isolate: the configuration is parsed and its keys imported once, not per request.
let cached: { text: string; transformers: ResourceTransformers | Error } | undefined

const resources = new WeakMap<StoredTypes, ReturnType<typeof storageResources>>()

/**
 * The store with encryption at rest as the configuration text says, or the store itself without one. A bad
 * configuration fails every use of the store: nothing is written in the clear that the operator meant encrypted.
 */
export function withEncryption(
  store: Store,
  text: string | undefined,
  types: StoredTypes,
  opts: { source: string; authenticatedData?(key: string): string },
): Store {
  if (!text?.trim()) return store
  if (cached?.text !== text) {
    let transformers: ResourceTransformers | Error
    try {
      transformers = loadEncryptionConfiguration(text, opts.source)
    } catch (e) {
      transformers = e as Error
    }
    cached = { text, transformers }
  }
  if (cached.transformers instanceof Error) throw cached.transformers
  let resourceOf = resources.get(types)
  if (!resourceOf) resources.set(types, (resourceOf = storageResources(types.all())))
  return new TransformingStore(store, cached.transformers, {
    resourceOf,
    authenticatedData: opts.authenticatedData,
  })
}
