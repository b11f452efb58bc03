// The conversion both the store's unit tests and the kubectl end-to-end tests expect of their two-version CRDs.
type Obj = Record<string, any>

/** Converts an object of a v1/v2 test CRD to `desired` (an apiVersion): spec.size in v1 is spec.dimension in v2. */
export function convertSizeDimension(obj: Obj, desired: string): Obj {
  const out = structuredClone(obj)
  out.apiVersion = desired
  const spec = out.spec ?? {}
  if (desired.endsWith('/v2') && 'size' in spec) {
    spec.dimension = spec.size
    delete spec.size
  }
  if (desired.endsWith('/v1') && 'dimension' in spec) {
    spec.size = spec.dimension
    delete spec.dimension
  }
  return out
}
