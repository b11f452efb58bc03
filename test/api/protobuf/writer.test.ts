// The wire writer's strings: short ASCII written in place, anything else through the UTF-8 encoder, and
// the same bytes either way as protobuf's length-delimited form.
import { describe, expect, it } from 'vitest'
import { WireReader } from '../../../src/api/protobuf/reader'
import { WireWriter } from '../../../src/api/protobuf/writer'

describe('WireWriter.string', () => {
  const cases = [
    '',
    'a',
    'x'.repeat(127),
    'x'.repeat(128),
    'x'.repeat(300),
    'café',
    'é'.repeat(100),
    '🚀 ok',
  ]
  for (const s of cases) {
    it(`writes ${JSON.stringify(s.slice(0, 12))} (${s.length} chars) as its UTF-8 bytes`, () => {
      const bytes = new WireWriter().string(3, s).bool(4, true).finish()
      const utf8 = new TextEncoder().encode(s)
      const r = new WireReader(bytes)
      expect(r.key('T')).toEqual({ no: 3, wire: 2 })
      expect(r.bytes()).toEqual(utf8)
      expect(r.key('T')).toEqual({ no: 4, wire: 0 })
    })
  }
})
