// The command-line syntax kube-apiserver takes (spf13/pflag behind cobra): `--flag=value` and
// `--flag value`, a bool flag alone (`--flag`) or with `=false`, repeatable list flags whose values are
// also comma separated, `-v 2` shorthands, `_` read as `-` in names (kube's WordSepNormalizeFunc),
// and pflag's error wording, which cobra prints after `Error: `.

export type FlagKind =
  | 'string'
  /** StringSlice: comma separated (CSV), each use appends; the first use replaces the default. */
  | 'strings'
  | 'bool'
  | 'int'
  | 'duration'
  /** ConfigurationMap / MapStringBool: `k=v,k2=v2`, each use adds. */
  | 'map'

export interface FlagDef {
  name: string
  kind: FlagKind
  usage: string
  /** The default as kube-apiserver's --help prints it. */
  def?: string
  shorthand?: string
  /** The value's name in --help (pflag's UnquoteUsage: string, strings, int, duration, ip, ...). */
  typeName?: string
}

export class FlagError extends Error {}

export type FlagValue = string | string[] | boolean | number

/** The flags given, by name, with pflag's value for each (defaults are not filled in). */
export type ParsedFlags = Map<string, FlagValue>

/** Go's time.ParseDuration, in milliseconds: "5m0s", "30s", "1h", "250ms", "0", "-1s". */
export function parseGoDuration(s: string): number | undefined {
  if (s === '0') return 0
  const units: Record<string, number> = {
    ns: 1e-6,
    us: 1e-3,
    µs: 1e-3,
    μs: 1e-3,
    ms: 1,
    s: 1000,
    m: 60_000,
    h: 3_600_000,
  }
  let rest = s
  let sign = 1
  if (rest.startsWith('-') || rest.startsWith('+')) {
    sign = rest.startsWith('-') ? -1 : 1
    rest = rest.slice(1)
  }
  if (!rest) return undefined
  let total = 0
  while (rest) {
    const m = /^(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/.exec(rest)
    if (!m) return undefined
    total += Number(m[1]) * units[m[2]!]!
    rest = rest.slice(m[0].length)
  }
  return sign * Math.round(total)
}

/** Go's strconv.ParseBool. */
export function parseGoBool(s: string): boolean | undefined {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(s)) return true
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(s)) return false
  return undefined
}

/** encoding/csv, one record: what pflag's StringSlice reads a value with. */
function readCSV(s: string): string[] | undefined {
  if (s === '') return []
  const out: string[] = []
  let i = 0
  for (;;) {
    let field = ''
    if (s[i] === '"') {
      i++
      for (;;) {
        if (i >= s.length) return undefined
        if (s[i] === '"') {
          if (s[i + 1] === '"') {
            field += '"'
            i += 2
            continue
          }
          i++
          break
        }
        field += s[i++]
      }
      if (i < s.length && s[i] !== ',') return undefined
    } else {
      while (i < s.length && s[i] !== ',') field += s[i++]
    }
    out.push(field)
    if (i >= s.length) return out
    i++ // the comma
  }
}

const normalize = (name: string) => name.replace(/_/g, '-')

export class FlagSet {
  private readonly byName = new Map<string, FlagDef>()
  private readonly byShorthand = new Map<string, FlagDef>()

  constructor(defs: FlagDef[]) {
    for (const d of defs) {
      this.byName.set(d.name, d)
      if (d.shorthand) this.byShorthand.set(d.shorthand, d)
    }
  }

  has(name: string): boolean {
    return this.byName.has(name)
  }

  /** Parses argv as pflag does; positional arguments are returned for the command to judge. */
  parse(argv: string[]): { flags: ParsedFlags; args: string[] } {
    const flags: ParsedFlags = new Map()
    const args: string[] = []
    for (let i = 0; i < argv.length; i++) {
      const a = argv[i]!
      if (a === '--') {
        args.push(...argv.slice(i + 1))
        break
      }
      if (!a.startsWith('-') || a === '-') {
        args.push(a)
        continue
      }
      let def: FlagDef | undefined
      let value: string | undefined
      let shown: string
      if (a.startsWith('--')) {
        const body = a.slice(2)
        if (body.startsWith('-') || body.startsWith('='))
          throw new FlagError(`bad flag syntax: ${a}`)
        const eq = body.indexOf('=')
        const name = normalize(eq < 0 ? body : body.slice(0, eq))
        if (eq >= 0) value = body.slice(eq + 1)
        def = this.byName.get(name)
        if (!def) throw new FlagError(`unknown flag: --${name}`)
        shown = a
      } else {
        // -v=2, -v 2, -v2 (pflag's shorthand forms), -h
        const c = a[1]!
        def = this.byShorthand.get(c)
        if (!def) throw new FlagError(`unknown shorthand flag: '${c}' in ${a}`)
        const rest = a.slice(2)
        if (rest.startsWith('=')) value = rest.slice(1)
        else if (rest !== '') value = rest
        shown = `-${c}`
      }
      if (value === undefined) {
        if (def.kind === 'bool') value = 'true'
        else if (i + 1 < argv.length) value = argv[++i]!
        else
          throw new FlagError(
            `flag needs an argument: ${def.shorthand && shown.startsWith('-') && !shown.startsWith('--') ? `'${def.shorthand}' in ${shown}` : shown}`,
          )
      }
      flags.set(def.name, this.set(def, value, flags.get(def.name)))
    }
    return { flags, args }
  }

  private set(def: FlagDef, value: string, previous: FlagValue | undefined): FlagValue {
    const invalid = (why: string) =>
      new FlagError(
        `invalid argument "${value}" for "${def.shorthand ? `-${def.shorthand}, ` : ''}--${def.name}" flag: ${why}`,
      )
    switch (def.kind) {
      case 'string':
        return value
      case 'bool': {
        const b = parseGoBool(value)
        if (b === undefined) throw invalid(`strconv.ParseBool: parsing "${value}": invalid syntax`)
        return b
      }
      case 'int': {
        if (!/^[+-]?\d+$/.test(value))
          throw invalid(`strconv.ParseInt: parsing "${value}": invalid syntax`)
        return Number(value)
      }
      case 'duration': {
        if (parseGoDuration(value) === undefined) throw invalid(`time: invalid duration "${value}"`)
        return value
      }
      case 'strings': {
        const items = readCSV(value)
        if (!items) throw invalid('parse error on line 1: bare " in non-quoted-field')
        return [...((previous as string[] | undefined) ?? []), ...items]
      }
      case 'map': {
        const items = [...((previous as string[] | undefined) ?? [])]
        for (const kv of value.split(',')) {
          const s = kv.trim()
          if (s) items.push(s)
        }
        return items
      }
    }
  }
}
