// Label key and value rules with apimachinery's wording (k8s.io/apimachinery/pkg/api/validate/content:
// IsLabelKey, IsLabelValue, IsDNS1123Subdomain, RegexError, MaxLenError), plus the Go formatting the
// messages need (strconv.Quote, field.Error's "path: Invalid value: ..." and errors.Aggregate).

const labelKeyFmt = '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]'
const labelKeyErrMsg = "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character"
const labelKeyMaxLength = 63
const labelKeyRegexp = new RegExp(`^${labelKeyFmt}$`)

const labelValueFmt = `(${labelKeyFmt})?`
const labelValueErrMsg = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character"
export const LABEL_VALUE_MAX_LENGTH = 63
const labelValueRegexp = new RegExp(`^${labelValueFmt}$`)

const dns1123LabelFmt = '[a-z0-9]([-a-z0-9]*[a-z0-9])?'
const dns1123SubdomainFmt = `${dns1123LabelFmt}(\\.${dns1123LabelFmt})*`
const dns1123SubdomainErrorMsg = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character"
const dns1123SubdomainMaxLength = 253
const dns1123SubdomainRegexp = new RegExp(`^${dns1123SubdomainFmt}$`)

const utf8 = new TextEncoder()
/** Go's len() of a string: its length in UTF-8 bytes. */
export function byteLength(s: string): number {
  return utf8.encode(s).length
}

export function maxLenError(length: number): string {
  return `must be no more than ${length} bytes`
}

export function emptyError(): string {
  return 'must be non-empty'
}

export function regexError(msg: string, re: string, ...examples: string[]): string {
  if (examples.length === 0) return `${msg} (regex used for validation is '${re}')`
  let out = `${msg} (e.g. `
  examples.forEach((ex, i) => {
    if (i > 0) out += ' or '
    out += `'${ex}', `
  })
  return `${out}regex used for validation is '${re}')`
}

export function isDNS1123Subdomain(value: string): string[] {
  const errs: string[] = []
  if (byteLength(value) > dns1123SubdomainMaxLength) errs.push(maxLenError(dns1123SubdomainMaxLength))
  if (!dns1123SubdomainRegexp.test(value)) errs.push(regexError(dns1123SubdomainErrorMsg, dns1123SubdomainFmt, 'example.com'))
  return errs
}

/** IsLabelKey (formerly IsQualifiedName): an optional DNS subdomain prefix and '/', then a name. */
export function isLabelKey(value: string): string[] {
  const errs: string[] = []
  const parts = value.split('/')
  let name: string
  if (parts.length === 1) {
    name = parts[0]
  } else if (parts.length === 2) {
    const prefix = parts[0]
    name = parts[1]
    if (prefix.length === 0) errs.push(`prefix part ${emptyError()}`)
    else errs.push(...isDNS1123Subdomain(prefix).map((m) => `prefix part ${m}`))
  } else {
    return [
      `a valid label key ${regexError(labelKeyErrMsg, labelKeyFmt, 'MyName', 'my.name', '123-abc')} with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')`,
    ]
  }
  if (name.length === 0) errs.push(`name part ${emptyError()}`)
  else if (byteLength(name) > labelKeyMaxLength) errs.push(`name part ${maxLenError(labelKeyMaxLength)}`)
  if (!labelKeyRegexp.test(name)) errs.push(`name part ${regexError(labelKeyErrMsg, labelKeyFmt, 'MyName', 'my.name', '123-abc')}`)
  return errs
}

export function isLabelValue(value: string): string[] {
  const errs: string[] = []
  if (byteLength(value) > LABEL_VALUE_MAX_LENGTH) errs.push(maxLenError(LABEL_VALUE_MAX_LENGTH))
  if (!labelValueRegexp.test(value)) errs.push(regexError(labelValueErrMsg, labelValueFmt, 'MyValue', 'my_value', '12345'))
  return errs
}

// unicode.IsPrint is false for these: controls, format, private use, unassigned, separators but ' '.
const notPrintable = /^[\p{Cc}\p{Cf}\p{Co}\p{Cn}\p{Cs}\p{Zl}\p{Zp}\p{Zs}]$/u

/** strconv.Quote: Go's double-quoted string literal (what %q prints). */
export function goQuote(s: string): string {
  let out = '"'
  for (const ch of s) {
    const c = ch.codePointAt(0)!
    switch (ch) {
      case '"': out += '\\"'; continue
      case '\\': out += '\\\\'; continue
      case '\x07': out += '\\a'; continue
      case '\b': out += '\\b'; continue
      case '\f': out += '\\f'; continue
      case '\n': out += '\\n'; continue
      case '\r': out += '\\r'; continue
      case '\t': out += '\\t'; continue
      case '\v': out += '\\v'; continue
    }
    if (c < 0x20 || c === 0x7f) out += `\\x${c.toString(16).padStart(2, '0')}`
    else if (c >= 0x80 && notPrintable.test(ch)) out += c < 0x10000 ? `\\u${c.toString(16).padStart(4, '0')}` : `\\U${c.toString(16).padStart(8, '0')}`
    else out += ch
  }
  return out + '"'
}

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
