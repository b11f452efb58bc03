// Label selectors as k8s.io/apimachinery/pkg/labels parses and matches them: the query-string grammar
// (labels.Parse), metav1.LabelSelector (LabelSelectorAsSelector) and their String() forms.
import { badRequest } from '../../server/errors'
import { compareStrings } from '../../go/fmt'
import { aggregateError, goQuote, invalidValueError, isLabelKey, isLabelValue } from './validation'
import { errorText } from '../../util/errors'

/** selection.Operator values. */
export type LabelOperator = 'in' | 'notin' | '=' | '==' | '!=' | 'exists' | '!' | 'gt' | 'lt'

export interface LabelRequirement {
  readonly key: string
  readonly operator: LabelOperator
  readonly values: readonly string[]
}

export interface LabelSelector {
  /** True when the selector does not restrict anything (labels.Everything()). */
  readonly empty: boolean
  readonly requirements: readonly LabelRequirement[]
  matches(labels: Record<string, string> | undefined | null): boolean
  /** The value a requirement on this key pins (=, == or a one-value in), as RequiresExactMatch. */
  requiresExactMatch(key: string): string | undefined
  toString(): string
}

const int64Min = -(2n ** 63n)
const int64Max = 2n ** 63n - 1n
/** strconv.ParseInt(s, 10, 64): undefined where Go returns an error. */
function parseInt64(s: string): bigint | undefined {
  if (!/^[+-]?[0-9]+$/.test(s)) return undefined
  const v = BigInt(s)
  return v < int64Min || v > int64Max ? undefined : v
}

function requirementMatches(r: LabelRequirement, labels: Record<string, string>): boolean {
  const has = Object.prototype.hasOwnProperty.call(labels, r.key)
  const val = has ? labels[r.key] : undefined
  switch (r.operator) {
    case 'in':
    case '=':
    case '==':
      return has && r.values.includes(val!)
    case 'notin':
    case '!=':
      return !has || !r.values.includes(val!)
    case 'exists':
      return has
    case '!':
      return !has
    case 'gt':
    case 'lt': {
      if (!has) return false
      const lv = parseInt64(val!)
      if (lv === undefined || r.values.length !== 1) return false
      const rv = parseInt64(r.values[0])
      if (rv === undefined) return false
      return r.operator === 'gt' ? lv > rv : lv < rv
    }
  }
}

function requirementString(r: LabelRequirement): string {
  let out = r.operator === '!' ? `!${r.key}` : r.key
  switch (r.operator) {
    case 'exists':
    case '!':
      return out
    case 'in':
      out += ' in '
      break
    case 'notin':
      out += ' notin '
      break
    case 'gt':
      out += '>'
      break
    case 'lt':
      out += '<'
      break
    default:
      out += r.operator
  }
  const values = r.values.length === 1 ? r.values[0] : [...r.values].sort(compareStrings).join(',')
  return r.operator === 'in' || r.operator === 'notin' ? `${out}(${values})` : out + values
}

class InternalSelector implements LabelSelector {
  readonly requirements: readonly LabelRequirement[]
  constructor(reqs: LabelRequirement[]) {
    // sort.Sort(ByKey): deterministic order by key; a stable sort keeps equal keys as written.
    this.requirements = [...reqs].sort((a, b) => compareStrings(a.key, b.key))
  }
  get empty(): boolean {
    return this.requirements.length === 0
  }
  matches(labels: Record<string, string> | undefined | null): boolean {
    const ls = labels ?? {}
    return this.requirements.every((r) => requirementMatches(r, ls))
  }
  requiresExactMatch(key: string): string | undefined {
    const r = this.requirements.find((x) => x.key === key)
    if (!r) return undefined
    if ((r.operator === '=' || r.operator === '==' || r.operator === 'in') && r.values.length === 1)
      return r.values[0]
    return undefined
  }
  toString(): string {
    return this.requirements.map(requirementString).join(',')
  }
}

/** labels.Nothing(): what a nil metav1.LabelSelector converts to. */
class NothingSelector implements LabelSelector {
  readonly requirements: readonly LabelRequirement[] = []
  readonly empty = false
  matches(): boolean {
    return false
  }
  requiresExactMatch(): string | undefined {
    return undefined
  }
  toString(): string {
    return ''
  }
}

export const everything: LabelSelector = new InternalSelector([])
export const nothing: LabelSelector = new NothingSelector()

/** A plain error carrying apimachinery's text; callers decide the Status it becomes. */
export class SelectorParseError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'SelectorParseError'
  }
}

/**
 * labels.NewRequirement's validation. `path` is the field.Path prefix the caller passes: none when parsing
 * a query string (the key check there already happened, with a nil path) and none from LabelSelectorAsSelector.
 */
function newRequirement(key: string, operator: LabelOperator, values: string[]): LabelRequirement {
  const errs: string[] = []
  const keyErrs = isLabelKey(key)
  if (keyErrs.length) errs.push(invalidValueError('key', key, keyErrs.join('; ')))
  const badValues = (detail: string) => `values: Invalid value: ${goStringSlice(values)}: ${detail}`
  switch (operator) {
    case 'in':
    case 'notin':
      if (values.length === 0)
        errs.push(badValues("for 'in', 'notin' operators, values set can't be empty"))
      break
    case '=':
    case '==':
    case '!=':
      if (values.length !== 1)
        errs.push(badValues('exact-match compatibility requires one single value'))
      break
    case 'exists':
    case '!':
      if (values.length !== 0)
        errs.push(badValues('values set must be empty for exists and does not exist'))
      break
    case 'gt':
    case 'lt':
      if (values.length !== 1)
        errs.push(badValues("for 'Gt', 'Lt' operators, exactly one value is required"))
      values.forEach((v, i) => {
        if (parseInt64(v) === undefined)
          errs.push(
            invalidValueError(
              `values[${i}]`,
              v,
              "for 'Gt', 'Lt' operators, the value must be an integer",
            ),
          )
      })
      break
  }
  values.forEach((v, i) => {
    const vErrs = isLabelValue(v)
    if (vErrs.length) errs.push(invalidValueError(`values[${i}][${key}]`, v, vErrs.join('; ')))
  })
  if (errs.length) throw new SelectorParseError(aggregateError(errs))
  return { key, operator, values }
}

// %#v of a []string, as field.Invalid renders a slice bad value.
function goStringSlice(values: string[]): string {
  return `[]string{${values.map(goQuote).join(', ')}}`
}

// ---- the lexer and parser of labels.Parse ----

const enum Tok {
  Error,
  EndOfString,
  ClosedPar,
  Comma,
  DoesNotExist,
  DoubleEquals,
  Equals,
  GreaterThan,
  Identifier,
  In,
  LessThan,
  NotEquals,
  NotIn,
  OpenPar,
}

const string2token: Record<string, Tok> = {
  ')': Tok.ClosedPar,
  ',': Tok.Comma,
  '!': Tok.DoesNotExist,
  '==': Tok.DoubleEquals,
  '=': Tok.Equals,
  '>': Tok.GreaterThan,
  in: Tok.In,
  '<': Tok.LessThan,
  '!=': Tok.NotEquals,
  notin: Tok.NotIn,
  '(': Tok.OpenPar,
}

const isWhitespace = (ch: string) => ch === ' ' || ch === '\t' || ch === '\r' || ch === '\n'
const isSpecialSymbol = (ch: string) => '=!(),><'.includes(ch) && ch !== ''

interface Item {
  tok: Tok
  lit: string
}

function lex(s: string): Item[] {
  let pos = 0
  // Go's Lexer.read returns 0 at the end; a NUL in the input ends it just the same.
  const read = (): string => {
    if (pos < s.length) return s[pos++]
    return '\0'
  }
  const unread = () => {
    pos--
  }
  const items: Item[] = []
  for (;;) {
    let ch = read()
    while (isWhitespace(ch)) ch = read()
    let item: Item
    if (ch === '\0') {
      item = { tok: Tok.EndOfString, lit: '' }
    } else if (isSpecialSymbol(ch)) {
      unread()
      let buffer = ''
      let last: Item | undefined
      for (;;) {
        const c = read()
        if (c === '\0') break
        if (isSpecialSymbol(c)) {
          buffer += c
          const t = string2token[buffer]
          if (t !== undefined) last = { tok: t, lit: buffer }
          else if (last) {
            unread()
            break
          }
        } else {
          unread()
          break
        }
      }
      item = last ?? { tok: Tok.Error, lit: `error expected: keyword found '${buffer}'` }
    } else {
      unread()
      let buffer = ''
      for (;;) {
        const c = read()
        if (c === '\0') break
        if (isSpecialSymbol(c) || isWhitespace(c)) {
          unread()
          break
        }
        buffer += c
      }
      const t = Object.prototype.hasOwnProperty.call(string2token, buffer)
        ? string2token[buffer]
        : Tok.Identifier
      item = { tok: t, lit: buffer }
    }
    items.push(item)
    if (item.tok === Tok.EndOfString) return items
  }
}

const binaryOperators = ['in', 'notin', '=', '==', '!=', 'gt', 'lt']

class Parser {
  private position = 0
  constructor(private readonly items: Item[]) {}

  // In a values context the keywords 'in' and 'notin' are plain identifiers ("a in (in)").
  lookahead(values: boolean): Item {
    const it = this.items[this.position]
    return values && (it.tok === Tok.In || it.tok === Tok.NotIn)
      ? { tok: Tok.Identifier, lit: it.lit }
      : it
  }
  consume(values: boolean): Item {
    const it = this.lookahead(values)
    this.position++
    return it
  }

  parse(): LabelRequirement[] {
    const reqs: LabelRequirement[] = []
    for (;;) {
      const { tok, lit } = this.lookahead(true)
      if (tok === Tok.Identifier || tok === Tok.DoesNotExist) {
        let r: LabelRequirement
        try {
          r = this.parseRequirement()
        } catch (e) {
          throw new SelectorParseError(`unable to parse requirement: ${errorText(e)}`)
        }
        reqs.push(r)
        const t = this.consume(true)
        if (t.tok === Tok.EndOfString) return reqs
        if (t.tok === Tok.Comma) {
          const t2 = this.lookahead(true)
          if (t2.tok !== Tok.Identifier && t2.tok !== Tok.DoesNotExist) {
            throw new SelectorParseError(`found '${t2.lit}', expected: identifier after ','`)
          }
        } else {
          throw new SelectorParseError(`found '${t.lit}', expected: ',' or 'end of string'`)
        }
      } else if (tok === Tok.EndOfString) {
        return reqs
      } else {
        throw new SelectorParseError(`found '${lit}', expected: !, identifier, or 'end of string'`)
      }
    }
  }

  parseRequirement(): LabelRequirement {
    const { key, op } = this.parseKeyAndInferOperator()
    if (op === 'exists' || op === '!') return newRequirement(key, op, [])
    const operator = this.parseOperator()
    const values =
      operator === 'in' || operator === 'notin' ? this.parseValues() : this.parseExactValue()
    // sets.String.List(): unique and sorted.
    return newRequirement(key, operator, [...values].sort(compareStrings))
  }

  parseKeyAndInferOperator(): { key: string; op: LabelOperator | '' } {
    let op: LabelOperator | '' = ''
    let { tok, lit } = this.consume(true)
    if (tok === Tok.DoesNotExist) {
      op = '!'
      ;({ tok, lit } = this.consume(true))
    }
    if (tok !== Tok.Identifier) throw new Error(`found '${lit}', expected: identifier`)
    const errs = isLabelKey(lit)
    // validateLabelKey with the parser's nil *field.Path, which prints as "<nil>".
    if (errs.length) throw new Error(invalidValueError('<nil>', lit, errs.join('; ')))
    const next = this.lookahead(true).tok
    if ((next === Tok.EndOfString || next === Tok.Comma) && op !== '!') op = 'exists'
    return { key: lit, op }
  }

  parseOperator(): LabelOperator {
    const { tok, lit } = this.consume(false)
    switch (tok) {
      case Tok.In:
        return 'in'
      case Tok.Equals:
        return '='
      case Tok.DoubleEquals:
        return '=='
      case Tok.GreaterThan:
        return 'gt'
      case Tok.LessThan:
        return 'lt'
      case Tok.NotIn:
        return 'notin'
      case Tok.NotEquals:
        return '!='
      default:
        throw new Error(`found '${lit}', expected: ${binaryOperators.join(', ')}`)
    }
  }

  parseValues(): Set<string> {
    const open = this.consume(true)
    if (open.tok !== Tok.OpenPar) throw new Error(`found '${open.lit}' expected: '('`)
    const { tok, lit } = this.lookahead(true)
    if (tok === Tok.Identifier || tok === Tok.Comma) {
      const s = this.parseIdentifiersList()
      if (this.consume(true).tok !== Tok.ClosedPar) throw new Error(`found '${lit}', expected: ')'`)
      return s
    }
    if (tok === Tok.ClosedPar) {
      this.consume(true)
      return new Set([''])
    }
    throw new Error(`found '${lit}', expected: ',', ')' or identifier`)
  }

  parseIdentifiersList(): Set<string> {
    const s = new Set<string>()
    for (;;) {
      const { tok, lit } = this.consume(true)
      if (tok === Tok.Identifier) {
        s.add(lit)
        const next = this.lookahead(true)
        if (next.tok === Tok.Comma) continue
        if (next.tok === Tok.ClosedPar) return s
        throw new Error(`found '${next.lit}', expected: ',' or ')'`)
      } else if (tok === Tok.Comma) {
        if (s.size === 0) s.add('')
        const next = this.lookahead(true).tok
        if (next === Tok.ClosedPar) {
          s.add('')
          return s
        }
        if (next === Tok.Comma) s.add('')
      } else {
        throw new Error(`found '${lit}', expected: ',', or identifier`)
      }
    }
  }

  parseExactValue(): Set<string> {
    const next = this.lookahead(true).tok
    if (next === Tok.EndOfString || next === Tok.Comma) return new Set([''])
    const { tok, lit } = this.consume(true)
    if (tok === Tok.Identifier) return new Set([lit])
    throw new Error(`found '${lit}', expected: identifier`)
  }
}

/** labels.Parse, throwing SelectorParseError with apimachinery's message. */
export function parseLabelSelectorOrError(s: string): LabelSelector {
  return new InternalSelector(new Parser(lex(s)).parse())
}

/**
 * The labelSelector query parameter of a list, watch or deletecollection. kube-apiserver decodes it into
 * ListOptions and answers a parse error with 400 BadRequest carrying labels.Parse's message as is
 * (handlers/get.go ListResource: errors.NewBadRequest(err.Error())).
 */
export function parseLabelSelector(s: string): LabelSelector {
  try {
    return parseLabelSelectorOrError(s)
  } catch (e) {
    if (e instanceof SelectorParseError) throw badRequest(e.message)
    throw e
  }
}

/** metav1.LabelSelector. */
export interface LabelSelectorObject {
  matchLabels?: Record<string, string> | null
  matchExpressions?: Array<{ key: string; operator: string; values?: string[] | null }> | null
}

/**
 * metav1.LabelSelectorAsSelector: nil selects nothing, an empty selector everything. Throws
 * SelectorParseError with apimachinery's message (callers choose the Status; the scale subresource and
 * controllers answer 400 with it).
 */
export function labelSelectorFromObjectOrError(
  sel: LabelSelectorObject | null | undefined,
): LabelSelector {
  if (sel === null || sel === undefined) return nothing
  const matchLabels = sel.matchLabels ?? {}
  const exprs = sel.matchExpressions ?? []
  if (Object.keys(matchLabels).length + exprs.length === 0) return everything
  const reqs: LabelRequirement[] = []
  for (const [k, v] of Object.entries(matchLabels)) reqs.push(newRequirement(k, '=', [v]))
  for (const e of exprs) {
    let op: LabelOperator
    switch (e.operator) {
      case 'In':
        op = 'in'
        break
      case 'NotIn':
        op = 'notin'
        break
      case 'Exists':
        op = 'exists'
        break
      case 'DoesNotExist':
        op = '!'
        break
      default:
        throw new SelectorParseError(
          `${goQuote(String(e.operator ?? ''))} is not a valid label selector operator`,
        )
    }
    reqs.push(newRequirement(e.key, op, [...(e.values ?? [])]))
  }
  return new InternalSelector(reqs)
}

/** labelSelectorFromObjectOrError, answering an invalid selector with 400 BadRequest and its message. */
export function labelSelectorFromObject(
  sel: LabelSelectorObject | null | undefined,
): LabelSelector {
  try {
    return labelSelectorFromObjectOrError(sel)
  } catch (e) {
    if (e instanceof SelectorParseError) throw badRequest(e.message)
    throw e
  }
}

/**
 * The string form of a metav1.LabelSelector, as the scale subresource puts it in status.selector
 * (LabelSelectorAsSelector(sel).String()): "" for nil or empty selectors.
 */
export function labelSelectorToString(sel: LabelSelectorObject | null | undefined): string {
  return labelSelectorFromObject(sel).toString()
}

/** metav1.FormatLabelSelector, what kubectl describe prints: "<none>" for empty, "<error>" for invalid. */
export function formatLabelSelector(sel: LabelSelectorObject | null | undefined): string {
  let s: string
  try {
    s = labelSelectorFromObjectOrError(sel).toString()
  } catch {
    return '<error>'
  }
  return s === '' ? '<none>' : s
}

/** labels.SelectorFromSet: every key must carry exactly its value. */
export function labelSelectorFromSet(
  set: Record<string, string> | null | undefined,
): LabelSelector {
  return new InternalSelector(
    Object.entries(set ?? {}).map(([key, v]) => ({ key, operator: '=' as const, values: [v] })),
  )
}
