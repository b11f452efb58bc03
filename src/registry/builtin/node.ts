// node.k8s.io/v1 RuntimeClass (pkg/apis/node/validation, printRuntimeClass).
import { fieldInvalid, fieldRequired, type FieldError } from '../../server/errors'
import { nameIsDNSLabel } from '../validation/names'
import { validateImmutableField } from '../validation/objectmeta'
import { col } from '../printers/format'
import { defineKind, printer, type Obj } from './define'

function validateRuntimeClass(rc: Obj): FieldError[] {
  const errs: FieldError[] = []
  // The handler names a CRI runtime configuration: a DNS label.
  if (typeof rc.handler !== 'string' || !rc.handler) errs.push(fieldRequired('handler'))
  else
    for (const m of nameIsDNSLabel(rc.handler, false))
      errs.push(fieldInvalid('handler', rc.handler, m))
  return errs
}

export const runtimeclasses = defineKind({
  group: 'node.k8s.io',
  version: 'v1',
  resource: 'runtimeclasses',
  kind: 'RuntimeClass',
  namespaced: false,
  schema: 'NodeV1RuntimeClass',
  strategy: {
    validate: validateRuntimeClass,
    validateUpdate: (obj, old) => [
      ...validateRuntimeClass(obj),
      ...validateImmutableField(obj.handler, old.handler, 'handler'),
    ],
    printer: printer(
      [
        col(
          'Handler',
          'string',
          'handler specifies the underlying runtime and configuration that the CRI implementation will use to handle pods of this class. The possible values are specific to the node & CRI configuration.  It is assumed that all handlers are available on every node, and handlers of the same name are equivalent on every node. For example, a handler called "runc" might specify that the runc OCI runtime (using native Linux containers) will be used to run the containers in a pod. The Handler must be lowercase, conform to the DNS Label (RFC 1123) requirements, and is immutable.',
        ),
      ],
      (o) => [o.handler ?? ''],
    ),
  },
})
