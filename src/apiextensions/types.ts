// apiextensions.k8s.io/v1 CustomResourceDefinition as stored and served.
import type { KubeObject } from '../registry/types'
import type { JSONSchemaProps } from './schema/types'

export interface CRDNames {
  plural: string
  singular?: string
  kind: string
  listKind?: string
  shortNames?: string[]
  categories?: string[]
}

export interface PrinterColumnDefinition {
  name: string
  type: string
  format?: string
  description?: string
  priority?: number
  jsonPath: string
}

export interface ScaleSubresource {
  specReplicasPath: string
  statusReplicasPath: string
  labelSelectorPath?: string
}

export interface CRDVersion {
  name: string
  served: boolean
  storage: boolean
  deprecated?: boolean
  deprecationWarning?: string
  schema?: { openAPIV3Schema?: JSONSchemaProps }
  subresources?: { status?: Record<string, never>; scale?: ScaleSubresource }
  additionalPrinterColumns?: PrinterColumnDefinition[]
  selectableFields?: { jsonPath: string }[]
}

export interface WebhookClientConfig {
  url?: string
  service?: { namespace: string; name: string; path?: string; port?: number }
  caBundle?: string
}

export interface CRDCondition {
  type: string
  status: 'True' | 'False' | 'Unknown'
  lastTransitionTime?: string
  reason?: string
  message?: string
}

export interface CRD extends KubeObject {
  spec: {
    group: string
    names: CRDNames
    scope: 'Namespaced' | 'Cluster'
    versions: CRDVersion[]
    conversion?: {
      strategy: 'None' | 'Webhook'
      webhook?: { clientConfig?: WebhookClientConfig; conversionReviewVersions?: string[] }
    }
    preserveUnknownFields?: boolean
  }
  status?: {
    conditions?: CRDCondition[]
    acceptedNames?: Partial<CRDNames>
    storedVersions?: string[]
  }
}

export const CRD_GROUP = 'apiextensions.k8s.io'
export const CRD_PREFIX = `/registry/${CRD_GROUP}/customresourcedefinitions/`
export const CLEANUP_FINALIZER = 'customresourcecleanup.apiextensions.k8s.io'

export function crdCondition(crd: CRD, type: string): CRDCondition | undefined {
  return crd.status?.conditions?.find((c) => c.type === type)
}
export function isCRDConditionTrue(crd: CRD, type: string): boolean {
  return crdCondition(crd, type)?.status === 'True'
}
