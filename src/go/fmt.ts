// Go's formatting of values in the messages kube-apiserver writes: strconv.Quote (%q), the %#v forms
// field.Error uses for bad values, and the string order sort.Strings gives them.

// unicode.IsPrint is false for these: controls, format, private use, unassigned, separators but ' '.
const notPrintable = /^[\p{Cc}\p{Cf}\p{Co}\p{Cn}\p{Cs}\p{Zl}\p{Zp}\p{Zs}]$/u

/** strconv.Quote: Go's double-quoted string literal (what %q prints). */
export function goQuote(s: string): string {
  let out = '"'
  for (const ch of s) {
    const c = ch.codePointAt(0)!
    switch (ch) {
      case '"':
        out += '\\"'
        continue
      case '\\':
        out += '\\\\'
        continue
      case '\x07':
        out += '\\a'
        continue
      case '\b':
        out += '\\b'
        continue
      case '\f':
        out += '\\f'
        continue
      case '\n':
        out += '\\n'
        continue
      case '\r':
        out += '\\r'
        continue
      case '\t':
        out += '\\t'
        continue
      case '\v':
        out += '\\v'
        continue
    }
    if (c < 0x20 || c === 0x7f) out += `\\x${c.toString(16).padStart(2, '0')}`
    else if (c >= 0x80 && notPrintable.test(ch))
      out +=
        c < 0x10000
          ? `\\u${c.toString(16).padStart(4, '0')}`
          : `\\U${c.toString(16).padStart(8, '0')}`
    else out += ch
  }
  return out + '"'
}

/**
 * %#v of a field.Error bad value: quoted strings, bare numbers, []string{...} for string lists; a bigint
 * stands for a Go uint64, which %#v prints in hex (0x0).
 */
export function goValue(v: unknown): string {
  if (typeof v === 'string') return goQuote(v)
  if (typeof v === 'bigint') return `0x${v.toString(16)}`
  if (typeof v === 'number' || typeof v === 'boolean') return String(v)
  if (v === null || v === undefined) return 'null'
  if (Array.isArray(v) && v.every((x) => typeof x === 'string'))
    return `[]string{${v.map(goQuote).join(', ')}}`
  // A []byte field (a CSR's spec.request): Go prints each byte in hex.
  if (v instanceof Uint8Array)
    return `[]byte{${Array.from(v, (b) => `0x${b.toString(16)}`).join(', ')}}`
  return '"object"'
}

/** sort.Strings order: bytewise on UTF-8, which for JS strings is code point order (not UTF-16 unit order). */
export function compareStrings(a: string, b: string): number {
  if (a === b) return 0
  const ai = [...a]
  const bi = [...b]
  for (let i = 0; i < Math.min(ai.length, bi.length); i++) {
    if (ai[i] !== bi[i]) return ai[i].codePointAt(0)! < bi[i].codePointAt(0)! ? -1 : 1
  }
  return ai.length - bi.length
}

/**
 * strings.EqualFold against an ASCII word: simple Unicode case folding, under which only the long s
 * (U+017F) and the Kelvin sign (U+212A) fold onto ASCII letters from outside ASCII.
 */
export function goEqualFold(s: string, asciiWord: string): boolean {
  const runes = [...s]
  if (runes.length !== asciiWord.length) return false
  return runes.every((r, i) => {
    const folded =
      r === '\u017f' ? 's' : r === '\u212a' ? 'k' : r >= 'A' && r <= 'Z' ? r.toLowerCase() : r
    return folded === asciiWord[i].toLowerCase()
  })
}
