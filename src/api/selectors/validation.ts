// The Go formatting selector messages need (strconv.Quote, field.Error's "path: Invalid value: ..." and
// errors.Aggregate), and the label key and value rules they apply.

// The rules themselves are the registry's (one copy of kube's wording for label keys and values).
import { goQuote } from '../../go/fmt'

export { goQuote }
export {
  isQualifiedName as isLabelKey,
  isValidLabelValue as isLabelValue,
  isDNS1123Subdomain,
} from '../../registry/validation/names'

/** field.Invalid(path, value, detail).Error() for a string value. */
export function invalidValueError(path: string, value: string, detail: string): string {
  return `${path}: Invalid value: ${goQuote(value)}${detail ? `: ${detail}` : ''}`
}

/** errors.NewAggregate(...).Error() after field.ErrorList.ToAggregate's de-duplication. */
export function aggregateError(messages: string[]): string {
  const seen = [...new Set(messages)]
  if (seen.length === 1) return seen[0]
  return `[${seen.join(', ')}]`
}
