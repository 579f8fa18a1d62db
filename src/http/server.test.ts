import assert from 'node:assert/strict'
import { connect } from 'node:net'
import { after, before, describe, test } from 'node:test'
import type { FastifyInstance } from 'fastify'
import pino from 'pino'
import { cleanStrings, createServer, nestedDeeperThan } from './server.ts'

describe('the HTTP server', () => {
  let app: FastifyInstance
  let port: number
  before(async () => {
    app = createServer({ bodyLimit: 1_048_576, logger: pino({ level: 'silent' }), trustProxy: false })
    app.post('/echo', async (req) => ({ body: req.body }))
    app.get('/things/:id', async (req) => req.params)
    app.get('/query', async (req) => req.query)
    await app.listen({ port: 0, host: '127.0.0.1' })
    port = (app.server.address() as { port: number }).port
  })
  after(() => app.close())

  /** Raw bytes to the server, and all it answers until it closes the connection. */
  const exchange = (request: string) =>
    new Promise<string>((resolve, reject) => {
      const socket = connect(port, '127.0.0.1')
      let text = ''
      socket.on('data', (d) => {
        text += d
      })
      socket.on('close', () => resolve(text))
      socket.on('error', reject)
      socket.write(request)
    })

  test('an unpaired surrogate spelled in JSON, in a value or a key, is read as U+FFFD; pairs stay', async () => {
    const res = await app.inject({
      method: 'POST',
      url: '/echo',
      headers: { 'content-type': 'application/json' },
      payload: '{"city":"New York\\ud800","k\\udfff":["\\ud83d\\ude00","a\\udc00b"],"__proto__":"\\ud800"}',
    })
    assert.equal(res.statusCode, 200)
    const { body } = res.json() as { body: Record<string, unknown> }
    assert.deepEqual(Object.keys(body), ['city', '__proto__', 'k\uFFFD'])
    assert.equal(body.city, 'New York\uFFFD')
    assert.deepEqual(body['k\uFFFD'], ['😀', 'a\uFFFDb'])
    assert.equal(Object.getOwnPropertyDescriptor(body, '__proto__')?.value, '\uFFFD')
  })

  test('JSON nested deeper than 64 levels is 400 E_BODY_INVALID; 64 levels and brackets in strings pass', async () => {
    const post = (payload: string) =>
      app.inject({ method: 'POST', url: '/echo', headers: { 'content-type': 'application/json' }, payload })
    const nest = (n: number) => `${'{"a":'.repeat(n)}1${'}'.repeat(n)}`
    for (const n of [65, 5_000, 100_000]) {
      const res = await post(nest(n))
      assert.equal(res.statusCode, 400, `${n} levels`)
      assert.equal(res.json().error.code, 'E_BODY_INVALID')
      assert.deepEqual(res.json().error.details, [
        { path: '/', message: 'at most 64 levels of objects and arrays' },
      ])
    }
    assert.equal((await post(nest(64))).statusCode, 200)
    const brackets = JSON.stringify({ note: '[[[[{{{{'.repeat(40), quoted: '\\"[[[[' })
    assert.equal((await post(brackets)).statusCode, 200)
    assert.equal(nestedDeeperThan('[[[1]]]', 2), true)
    assert.equal(nestedDeeperThan('["[[[[[[", 1]', 2), false)
  })

  test('a NUL is read as U+FFFD in JSON, form and query alike (a store cannot keep it consistently)', async () => {
    const json = await app.inject({
      method: 'POST',
      url: '/echo',
      headers: { 'content-type': 'application/json' },
      payload: '{"data_set_id":"\\u0000","id":"a\\u0000b","k\\u0000":1,"keep":"back\\\\u0000slash"}',
    })
    assert.deepEqual(json.json().body, {
      data_set_id: '\uFFFD',
      id: 'a\uFFFDb',
      'k\uFFFD': 1,
      keep: 'back\\u0000slash',
    })
    const form = await app.inject({
      method: 'POST',
      url: '/echo',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: 'CallSid=CA%001&To=%2B1800',
    })
    assert.deepEqual(form.json().body, { CallSid: 'CA\uFFFD1', To: '+1800' })
    const query = await app.inject({ method: 'GET', url: '/query?call_id=CA%00&call_id=x&v=1' })
    assert.deepEqual(query.json(), { call_id: ['CA\uFFFD', 'x'], v: '1' })
  })

  test('nesting far deeper than the call stack is walked without overflowing', () => {
    let v: unknown = 'x\ud800'
    for (let i = 0; i < 200_000; i++) v = [v]
    let out = cleanStrings(v)
    for (let i = 0; i < 200_000; i++) out = (out as unknown[])[0]
    assert.equal(out, 'x\uFFFD')
  })

  test('an id over the router’s 100 characters is 414 E_URL_TOO_LONG; an undecodable URL 400 E_URL_INVALID', async () => {
    const long = await app.inject({ method: 'GET', url: `/things/${'x'.repeat(101)}` })
    assert.equal(long.statusCode, 414)
    assert.equal(long.json().error.code, 'E_URL_TOO_LONG')
    const bad = await app.inject({ method: 'GET', url: '/things/%E0%A4%A' })
    assert.equal(bad.statusCode, 400)
    assert.equal(bad.json().error.code, 'E_URL_INVALID')
  })

  test('headers over Node’s limit are answered 431 E_HEADERS_TOO_LARGE in the catalogue’s shape, then closed', async () => {
    const answer = await exchange(`GET /things/1 HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`)
    assert.match(answer, /^HTTP\/1\.1 431 /)
    const body = JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4))
    assert.equal(body.error.code, 'E_HEADERS_TOO_LARGE')
  })

  test('a malformed request line is 400 E_HTTP_INVALID', async () => {
    const answer = await exchange('NOT HTTP AT ALL\r\n\r\n')
    assert.match(answer, /^HTTP\/1\.1 400 /)
    assert.equal(JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4)).error.code, 'E_HTTP_INVALID')
  })
})
