// The warning recorder's header values, against the cases of kube's warning_test.go.
import { Hono } from 'hono'
import { describe, expect, it } from 'vitest'
import {
  warningHeaderValues,
  withWarningRecorder,
  type WarningVariables,
} from '../../src/server/filters/warnings'
import { badRequest } from '../../src/server/errors'
import { respondError } from '../../src/api/negotiation'

describe('warningHeaderValues', () => {
  it('writes each text once, quoted, with agent "-"', () => {
    expect(warningHeaderValues([])).toEqual([])
    expect(warningHeaderValues([''])).toEqual([])
    expect(warningHeaderValues(['mytext', 'mytext', 'other "quoted" \\'])).toEqual([
      '299 - "mytext"',
      '299 - "other \\"quoted\\" \\\\"',
    ])
  })

  it('drops a text with control characters, as net.NewWarningHeader refuses it', () => {
    expect(warningHeaderValues(['my\ntext', 'ok'])).toEqual(['299 - "ok"'])
  })

  it('truncates every warning once the total passes the limit, and stops adding when it is reached again', () => {
    const out = warningHeaderValues(
      [
        'aaaaaaaaaa',
        'aaaaaaaaaa',
        'bb',
        'ccc',
        'Iñtërnâtiô',
        'e',
        'ffffffffff',
        'ffffffffff',
        'gggggggggg',
        'h',
      ],
      25,
      5,
    )
    const latin1ToUtf8 = (s: string) =>
      new TextDecoder().decode(Uint8Array.from(s, (c) => c.charCodeAt(0)))
    expect(out.map(latin1ToUtf8)).toEqual([
      '299 - "aaaaa"',
      '299 - "bb"',
      '299 - "ccc"',
      '299 - "Iñtër"',
      '299 - "e"',
      '299 - "fffff"',
      '299 - "ggggg"',
    ])
  })

  it('keeps everything below the limit whole', () => {
    const long = 'x'.repeat(1000)
    expect(warningHeaderValues([long, 'y'])).toEqual([`299 - "${long}"`, '299 - "y"'])
  })
})

describe('withWarningRecorder', () => {
  const app = new Hono<{ Variables: WarningVariables }>()
  app.onError((e) => respondError(badRequest((e as Error).message)))
  app.use('*', withWarningRecorder())
  app.get('/ok', (c) => {
    c.get('warnings').push('first', 'second', 'first')
    return c.json({})
  })
  app.get('/fails', (c) => {
    c.get('warnings').push('before the error')
    throw new Error('boom')
  })

  it('writes the recorded warnings on a response', async () => {
    const res = await app.request('/ok')
    expect(res.headers.get('warning')).toBe('299 - "first", 299 - "second"')
  })

  it('writes them on an error Status too', async () => {
    const res = await app.request('/fails')
    expect(res.status).toBe(400)
    expect(res.headers.get('warning')).toBe('299 - "before the error"')
  })
})
