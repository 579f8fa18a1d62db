/**
 * The postback destination's match keys: the pure `matchKeysOf` over the macros a postback resolved, and end
 * to end over real sockets against a local affiliate receiver.
 */
import assert from 'node:assert/strict'
import { createServer } from 'node:http'
import { after, before, beforeEach, describe, test } from 'node:test'
import { readConfig } from '../../config/index.ts'
import type { EcapiEvent } from '../../model/ecapi.ts'
import type { ClickIdentity } from '../../model/identity.ts'
import type { Signal } from '../../model/signal.ts'
import { createHttpClient, type HttpClient } from '../http.ts'
import { listenLocal, readBody } from '../testing/mock-http.ts'
import { type SignalOverrides, testContext, testJob, testSignal } from '../testing/signals.ts'
import { postbackDestination } from './index.ts'
import { foreignMacros, matchKeysOf, render } from './template.ts'

function signal(o: SignalOverrides = {}): Signal {
  const base: EcapiEvent = {
    data_set_id: 'acme',
    id: 'evt-1',
    timestamp: 1_778_094_464,
    event_type: 'contact',
    user_data: { email_address: 'jane@example.com' },
    ext: {
      call: { call_id: 'CA1', caller: '+12125550000', payout: 12 },
      click_ids: { gclid: 'Cj0-gclid', irclickid: 'ir-77' } as ClickIdentity,
    },
  }
  return testSignal(base, o, { name: 'disposition:Sale', value: 120, currency: 'USD' })
}

describe('postback match keys', () => {
  test('a click-id macro with a value counts, by its name; other macros do not', () => {
    assert.deepEqual(matchKeysOf({ click_id: 'abc', payout: '12', caller: '+12125550000' }), ['click_id'])
    assert.deepEqual(
      matchKeysOf({ ttclid: 't', 'ext.click_ids.irclickid': 'ir', gclid: 'g', status: 'ok' }),
      ['gclid', 'irclickid', 'ttclid'],
    )
  })

  test('the same click id twice is one key; click time, attribution and browser ids are not click ids', () => {
    assert.deepEqual(
      matchKeysOf({
        gclid: 'g',
        'ext.click_ids.gclid': 'g',
        'ext.click_ids.clicked_at': '1700000000000',
        'ext.click_ids.attribution': 'dni',
        'ext.click_ids.visitor_id': 'v-1',
        'ext.click_ids.ga': 'GA1.1.42.1700000000',
        'ext.click_ids.fbp': 'fb.1.1596403881668.1116446470',
        'ext.click_ids.irclickid': 'ir-9',
      }),
      ['gclid', 'irclickid'],
    )
  })

  test('nothing to match on: no click-id macro, or one that resolved empty → []', () => {
    assert.deepEqual(matchKeysOf({ payout: '12', status: 'approved' }), [])
    assert.deepEqual(matchKeysOf({ click_id: undefined, gclid: '', fbclid: '  ' }), [])
    assert.deepEqual(matchKeysOf({}), [])
  })
})

describe('postback macro syntaxes', () => {
  const values: Record<string, string> = { subid: 'ab c', payout: '12.5', caller: '+12125550000' }
  const lookup = (n: string) => values[n]

  test('each network’s syntax renders its tokens, URL-encoded unless raw', () => {
    const cases = [
      ['braces', 'https://n.example/pb?s={subid}&c={caller}&r={_caller}'],
      ['double_braces', 'https://n.example/pb?s={{subid}}&c={{caller}}&r={{_caller}}'],
      ['brackets', 'https://n.example/pb?s=[subid]&c=[caller]&r=[_caller]'],
      ['double_brackets', 'https://n.example/pb?s=[[subid]]&c=[[caller]]&r=[[_caller]]'],
      ['hashes', 'https://n.example/pb?s=#subid#&c=#caller#&r=#_caller#'],
      ['percents', 'https://n.example/pb?s=%%subid%%&c=%%caller%%&r=%%_caller%%'],
    ] as const
    for (const [syntax, template] of cases)
      assert.equal(
        render(template, lookup, 'url', 'empty', syntax),
        'https://n.example/pb?s=ab%20c&c=%2B12125550000&r=+12125550000',
        syntax,
      )
  })

  test('tokens of another syntax are a config error naming the field; the right syntax passes', () => {
    assert.deepEqual(foreignMacros('https://p.example/?s=[[subid]]&a=[[payout]]', 'braces'), [
      '[[subid]]',
      '[[payout]]',
    ])
    assert.deepEqual(foreignMacros('https://p.example/?s={{subid}}', 'double_braces'), [])
    const errorsFor = (extra: string) =>
      readConfig(`destinations: { net: { type: postback, ${extra} } }\n`, {}).errors
    const [url] = errorsFor('url: "https://p202.example/gpb.php?subid={{subid}}&amount=#payout#"')
    assert.match(
      url ?? '',
      /^destinations\.net\.url: \{\{subid\}\}, #payout# is not a macro in macro_syntax braces/,
    )
    const [body] = errorsFor('url: "https://p.example/pb", method: POST, body: { s: "[[subid]]" }')
    assert.match(body ?? '', /^destinations\.net\.body\.s: \[\[subid\]\] is not a macro/)
    assert.deepEqual(
      errorsFor('url: "https://p202.example/gpb.php?subid=[[subid]]", macro_syntax: double_brackets'),
      [],
    )
  })
})

describe('postback against a local receiver', () => {
  const received: { method: string; url: string; body: string }[] = []
  let status = 200
  let receiver: { url: string; close(): Promise<void> }
  let http: HttpClient
  const ctx = () => testContext(http)
  const destination = (config: Record<string, unknown>) =>
    postbackDestination.create('affiliate', {
      type: 'postback',
      method: 'GET',
      body_type: 'form',
      missing: 'empty',
      allow_private: true,
      ...config,
    } as Parameters<typeof postbackDestination.create>[1])

  before(async () => {
    const server = createServer(async (req, res) => {
      received.push({ method: req.method ?? '', url: req.url ?? '', body: await readBody(req, 1 << 20) })
      res.writeHead(status, { 'content-type': 'text/plain' })
      res.end(status === 200 ? 'success=true' : 'error')
    })
    receiver = await listenLocal(server)
    http = createHttpClient({ allowPrivate: true })
  })
  after(async () => {
    await http.close()
    await receiver.close()
  })
  beforeEach(() => {
    received.length = 0
    status = 200
  })

  test('GET with {click_id}: delivered, matched on click_id', async () => {
    const d = destination({ url: `${receiver.url}/pb?cid={click_id}&payout={payout}&caller={caller}` })
    const [o] = await d.send([testJob(signal(), 'affiliate')], ctx())
    assert.deepEqual([o.kind, o.matchKeys], ['delivered', ['click_id']])
    assert.equal(received[0].url, '/pb?cid=Cj0-gclid&payout=12&caller=%2B12125550000')
  })

  test('without PII consent the caller is not sent: {caller} and {ext.call.caller} render empty', async () => {
    const d = destination({ url: `${receiver.url}/pb?cid={click_id}&caller={caller}&raw={ext.call.caller}` })
    await d.send([testJob(signal({ consent: { pii: false } }), 'affiliate')], ctx())
    assert.equal(received[0].url, '/pb?cid=Cj0-gclid&caller=&raw=')
  })

  test('POST JSON body with a raw {_gclid} and a captured network click id', async () => {
    const d = destination({
      url: `${receiver.url}/conv`,
      method: 'POST',
      body_type: 'json',
      body: { gclid: '{_gclid}', irclickid: '{ext.click_ids.irclickid}', amount: '{value}' },
    })
    const [o] = await d.send([testJob(signal(), 'affiliate')], ctx())
    assert.deepEqual([o.kind, o.matchKeys], ['delivered', ['gclid', 'irclickid']])
    assert.deepEqual(JSON.parse(received[0].body), { gclid: 'Cj0-gclid', irclickid: 'ir-77', amount: '120' })
  })

  test('no click id to send: [] (the macro rendered empty, or the template has none)', async () => {
    const noClick = signal({ event: { ext: { call: { call_id: 'CA1' } } } })
    const withMacro = destination({ url: `${receiver.url}/pb?cid={click_id}` })
    const [a] = await withMacro.send([testJob(noClick, 'affiliate')], ctx())
    assert.deepEqual([a.kind, a.matchKeys], ['delivered', []])
    assert.equal(received[0].url, '/pb?cid=')
    const noMacro = destination({ url: `${receiver.url}/pb?call={call_id}` })
    const [b] = await noMacro.send([testJob(signal(), 'affiliate')], ctx())
    assert.deepEqual([b.kind, b.matchKeys], ['delivered', []])
  })

  test("the network's credentials (header values, secret_params, signature secret) are redacted in the exchange", async () => {
    const d = destination({
      url: `${receiver.url}/pb?cid={click_id}&key=pb%2Fkey%2B123&tok=tok-abcdef-42&page=1`,
      headers: { 'X-Network-Token': 'net-token-123456' },
      secret_params: ['key', 'tok'],
      signature: { secret: 'sig-secret-987654', header: 'X-Sig' },
    })
    const [o] = await d.send([testJob(signal(), 'affiliate')], ctx())
    assert.equal(o.kind, 'delivered')
    // the receiver got the real values; the attempt log keeps none of them
    assert.equal(received[0].url, '/pb?cid=Cj0-gclid&key=pb%2Fkey%2B123&tok=tok-abcdef-42&page=1')
    const ex = o.exchange
    assert.ok(ex)
    assert.equal(ex.url, `${receiver.url}/pb?cid=Cj0-gclid&key=[redacted]&tok=[redacted]&page=1`)
    assert.equal(ex.headers?.['X-Network-Token'], '[redacted]')
    assert.doesNotMatch(
      JSON.stringify(ex),
      /net-token-123456|pb%2Fkey|pb\/key|tok-abcdef-42|sig-secret-987654/,
    )
  })

  test('refused credentials (401, 403) pause the destination; a 400 is this conversion’s alone', async () => {
    const d = destination({ url: `${receiver.url}/pb?cid={click_id}` })
    for (const [code, kind] of [
      [401, 'paused'],
      [403, 'paused'],
      [410, 'paused'],
      [400, 'permanent'],
      [404, 'permanent'],
    ] as const) {
      status = code
      const [o] = await d.send([testJob(signal(), 'affiliate')], ctx())
      assert.deepEqual([o.kind, o.code], [kind, `HTTP_${code}`], String(code))
    }
  })

  test('a failed send keeps its match keys; a postback never built has none', async () => {
    status = 500
    const [failed] = await destination({ url: `${receiver.url}/pb?cid={gclid}` }).send(
      [testJob(signal(), 'affiliate')],
      ctx(),
    )
    assert.deepEqual([failed.kind, failed.matchKeys], ['retry', ['gclid']])
    const strict = destination({ url: `${receiver.url}/pb?cid={click_id}&sub={ext.sub_id}`, missing: 'fail' })
    const [missing] = await strict.send([testJob(signal(), 'affiliate')], ctx())
    assert.deepEqual(
      [missing.kind, missing.code, missing.matchKeys],
      ['permanent', 'E_MACRO_MISSING', undefined],
    )
    assert.equal(received.length, 1)
  })
})
