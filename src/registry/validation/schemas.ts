// The precompiled OpenAPI validator of each built-in kind we serve (kubernetes-models, eval-free).
// Imported one by one so a bundle carries only these and never ajv's compiler.
import { validate as AdmissionregistrationV1MutatingWebhookConfiguration } from 'kubernetes-models/_schemas/IoK8sApiAdmissionregistrationV1MutatingWebhookConfiguration'
import { validate as AdmissionregistrationV1ValidatingAdmissionPolicy } from 'kubernetes-models/_schemas/IoK8sApiAdmissionregistrationV1ValidatingAdmissionPolicy'
import { validate as AdmissionregistrationV1ValidatingAdmissionPolicyBinding } from 'kubernetes-models/_schemas/IoK8sApiAdmissionregistrationV1ValidatingAdmissionPolicyBinding'
import { validate as AdmissionregistrationV1ValidatingWebhookConfiguration } from 'kubernetes-models/_schemas/IoK8sApiAdmissionregistrationV1ValidatingWebhookConfiguration'
import { validate as ApiextensionsV1CustomResourceDefinition } from 'kubernetes-models/_schemas/IoK8sApiextensionsApiserverPkgApisApiextensionsV1CustomResourceDefinition'
import { validate as AppsV1ControllerRevision } from 'kubernetes-models/_schemas/IoK8sApiAppsV1ControllerRevision'
import { validate as AppsV1DaemonSet } from 'kubernetes-models/_schemas/IoK8sApiAppsV1DaemonSet'
import { validate as AppsV1Deployment } from 'kubernetes-models/_schemas/IoK8sApiAppsV1Deployment'
import { validate as AppsV1ReplicaSet } from 'kubernetes-models/_schemas/IoK8sApiAppsV1ReplicaSet'
import { validate as AppsV1StatefulSet } from 'kubernetes-models/_schemas/IoK8sApiAppsV1StatefulSet'
import { validate as AutoscalingV1HorizontalPodAutoscaler } from 'kubernetes-models/_schemas/IoK8sApiAutoscalingV1HorizontalPodAutoscaler'
import { validate as AutoscalingV2HorizontalPodAutoscaler } from 'kubernetes-models/_schemas/IoK8sApiAutoscalingV2HorizontalPodAutoscaler'
import { validate as BatchV1CronJob } from 'kubernetes-models/_schemas/IoK8sApiBatchV1CronJob'
import { validate as BatchV1Job } from 'kubernetes-models/_schemas/IoK8sApiBatchV1Job'
import { validate as CoordinationV1Lease } from 'kubernetes-models/_schemas/IoK8sApiCoordinationV1Lease'
import { validate as FlowcontrolV1FlowSchema } from 'kubernetes-models/_schemas/IoK8sApiFlowcontrolV1FlowSchema'
import { validate as FlowcontrolV1PriorityLevelConfiguration } from 'kubernetes-models/_schemas/IoK8sApiFlowcontrolV1PriorityLevelConfiguration'
import { validate as CoreV1ConfigMap } from 'kubernetes-models/_schemas/IoK8sApiCoreV1ConfigMap'
import { validate as CoreV1Endpoints } from 'kubernetes-models/_schemas/IoK8sApiCoreV1Endpoints'
import { validate as CoreV1Event } from 'kubernetes-models/_schemas/IoK8sApiCoreV1Event'
import { validate as CoreV1LimitRange } from 'kubernetes-models/_schemas/IoK8sApiCoreV1LimitRange'
import { validate as CoreV1Namespace } from 'kubernetes-models/_schemas/IoK8sApiCoreV1Namespace'
import { validate as CoreV1Node } from 'kubernetes-models/_schemas/IoK8sApiCoreV1Node'
import { validate as CoreV1PersistentVolume } from 'kubernetes-models/_schemas/IoK8sApiCoreV1PersistentVolume'
import { validate as CoreV1PersistentVolumeClaim } from 'kubernetes-models/_schemas/IoK8sApiCoreV1PersistentVolumeClaim'
import { validate as CoreV1Pod } from 'kubernetes-models/_schemas/IoK8sApiCoreV1Pod'
import { validate as CoreV1PodTemplate } from 'kubernetes-models/_schemas/IoK8sApiCoreV1PodTemplate'
import { validate as CoreV1ReplicationController } from 'kubernetes-models/_schemas/IoK8sApiCoreV1ReplicationController'
import { validate as CoreV1ResourceQuota } from 'kubernetes-models/_schemas/IoK8sApiCoreV1ResourceQuota'
import { validate as CoreV1Secret } from 'kubernetes-models/_schemas/IoK8sApiCoreV1Secret'
import { validate as CoreV1Service } from 'kubernetes-models/_schemas/IoK8sApiCoreV1Service'
import { validate as CoreV1ServiceAccount } from 'kubernetes-models/_schemas/IoK8sApiCoreV1ServiceAccount'
import { validate as DiscoveryV1EndpointSlice } from 'kubernetes-models/_schemas/IoK8sApiDiscoveryV1EndpointSlice'
import { validate as EventsV1Event } from 'kubernetes-models/_schemas/IoK8sApiEventsV1Event'
import { validate as NetworkingV1Ingress } from 'kubernetes-models/_schemas/IoK8sApiNetworkingV1Ingress'
import { validate as NetworkingV1IngressClass } from 'kubernetes-models/_schemas/IoK8sApiNetworkingV1IngressClass'
import { validate as NetworkingV1NetworkPolicy } from 'kubernetes-models/_schemas/IoK8sApiNetworkingV1NetworkPolicy'
import { validate as PolicyV1PodDisruptionBudget } from 'kubernetes-models/_schemas/IoK8sApiPolicyV1PodDisruptionBudget'
import { validate as RbacV1ClusterRole } from 'kubernetes-models/_schemas/IoK8sApiRbacV1ClusterRole'
import { validate as RbacV1ClusterRoleBinding } from 'kubernetes-models/_schemas/IoK8sApiRbacV1ClusterRoleBinding'
import { validate as RbacV1Role } from 'kubernetes-models/_schemas/IoK8sApiRbacV1Role'
import { validate as RbacV1RoleBinding } from 'kubernetes-models/_schemas/IoK8sApiRbacV1RoleBinding'
import { validate as SchedulingV1PriorityClass } from 'kubernetes-models/_schemas/IoK8sApiSchedulingV1PriorityClass'
import { validate as StorageV1StorageClass } from 'kubernetes-models/_schemas/IoK8sApiStorageV1StorageClass'
import { validate as ApiregistrationV1APIService } from 'kubernetes-models/_schemas/IoK8sKubeAggregatorPkgApisApiregistrationV1APIService'
import { validate as CoreV1ComponentStatus } from 'kubernetes-models/_schemas/IoK8sApiCoreV1ComponentStatus'
import { validate as CertificatesV1CertificateSigningRequest } from 'kubernetes-models/_schemas/IoK8sApiCertificatesV1CertificateSigningRequest'
import { validate as NodeV1RuntimeClass } from 'kubernetes-models/_schemas/IoK8sApiNodeV1RuntimeClass'
import { validate as StorageV1CSIDriver } from 'kubernetes-models/_schemas/IoK8sApiStorageV1CSIDriver'
import { validate as StorageV1CSINode } from 'kubernetes-models/_schemas/IoK8sApiStorageV1CSINode'
import { validate as StorageV1CSIStorageCapacity } from 'kubernetes-models/_schemas/IoK8sApiStorageV1CSIStorageCapacity'
import { validate as StorageV1VolumeAttachment } from 'kubernetes-models/_schemas/IoK8sApiStorageV1VolumeAttachment'
import type { SchemaValidator } from './schema'

export const schemas = {
  AdmissionregistrationV1MutatingWebhookConfiguration,
  AdmissionregistrationV1ValidatingAdmissionPolicy,
  AdmissionregistrationV1ValidatingAdmissionPolicyBinding,
  AdmissionregistrationV1ValidatingWebhookConfiguration,
  ApiextensionsV1CustomResourceDefinition,
  AppsV1ControllerRevision,
  AppsV1DaemonSet,
  AppsV1Deployment,
  AppsV1ReplicaSet,
  AppsV1StatefulSet,
  AutoscalingV1HorizontalPodAutoscaler,
  AutoscalingV2HorizontalPodAutoscaler,
  BatchV1CronJob,
  BatchV1Job,
  CoordinationV1Lease,
  FlowcontrolV1FlowSchema,
  FlowcontrolV1PriorityLevelConfiguration,
  CoreV1ConfigMap,
  CoreV1Endpoints,
  CoreV1Event,
  CoreV1LimitRange,
  CoreV1Namespace,
  CoreV1Node,
  CoreV1PersistentVolume,
  CoreV1PersistentVolumeClaim,
  CoreV1Pod,
  CoreV1PodTemplate,
  CoreV1ReplicationController,
  CoreV1ResourceQuota,
  CoreV1Secret,
  CoreV1Service,
  CoreV1ServiceAccount,
  DiscoveryV1EndpointSlice,
  EventsV1Event,
  NetworkingV1Ingress,
  NetworkingV1IngressClass,
  NetworkingV1NetworkPolicy,
  PolicyV1PodDisruptionBudget,
  RbacV1ClusterRole,
  RbacV1ClusterRoleBinding,
  RbacV1Role,
  RbacV1RoleBinding,
  SchedulingV1PriorityClass,
  StorageV1StorageClass,
  CertificatesV1CertificateSigningRequest,
  ApiregistrationV1APIService,
  CoreV1ComponentStatus,
  NodeV1RuntimeClass,
  StorageV1CSIDriver,
  StorageV1CSINode,
  StorageV1CSIStorageCapacity,
  StorageV1VolumeAttachment,
} satisfies Record<string, SchemaValidator>

export type SchemaName = keyof typeof schemas
