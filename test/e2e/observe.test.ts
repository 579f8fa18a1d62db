/**
 * What operators read, end to end: metric labels a stranger cannot multiply, credentials that never reach a
 * trace or a dead letter, signals fired by timers counted like any other, availability shown from the start.
 */
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { slackText } from '../../src/observe/alerts.ts'
import { eventually, startApp, type TestApp } from '../helpers/app.ts'
import { startReceiver } from '../helpers/receiver.ts'

describe('observability', () => {
  let app: TestApp
  let receiver: Awaited<ReturnType<typeof startReceiver>>
  before(async () => {
    receiver = await startReceiver()
    app = await startApp(`
sources:
  pbx: { type: webhook, secret: pbx-shared-secret-7f3a9c, token_header: X-Pbx-Auth, data_set_id: acme, map: { call_id: id, status: state } }
campaigns:
  default: { qualified_after_s: 1 }
destinations:
  net:
    type: postback
    url: "${receiver.url}/pb?c={call_id}&s={signal}&key=NETKEY-9d8c7b6a5f"
    secret_params: [key]
    allow_private: true
    success: { body_not_matches: "failed" }
routes: [ { signals: ["*"], to: [net] } ]
`)
  })
  after(async () => {
    await app.close()
    await receiver.close()
  })
  const metrics = async () => (await app.get('/metrics')).text
  /** The PBX's webhook: call `id` answered, with the source's own token header. */
  async function answered(id: string) {
    const res = await app.request(
      'POST',
      '/v1/sources/pbx/webhook',
      { id, state: 'answered' },
      { authorization: '', 'x-pbx-auth': 'pbx-shared-secret-7f3a9c' },
    )
    assert.equal(res.status, 200, res.text)
    return res
  }

  test('a destination is shown available from the start, before anything was sent to it', async () => {
    assert.match(await metrics(), /closeloop_destination_available\{destination="net"\} 1\n/)
  })

  test('requests to sources that do not exist are counted under one label, however many names', async () => {
    for (let i = 0; i < 20; i++) {
      const r = await app.request('POST', `/v1/sources/made-up-${i}/webhook`, {}, { authorization: '' })
      assert.equal(r.status, 404)
    }
    const series = (await metrics()).split('\n').filter((l) => l.startsWith('closeloop_ingest_events_total{'))
    assert.deepEqual(series, ['closeloop_ingest_events_total{source="unknown",result="rejected"} 20'])
  })

  test("a source's own token header never reaches the trace; a network's key never reaches a dead letter", async () => {
    // the receiver echoes the URL it was called with, key included, in a body that says it failed
    receiver.setDefault({ status: 200, body: 'failed for /pb?key=NETKEY-9d8c7b6a5f' })
    const res = await answered('CA-obs-1')
    const eventId = (res.body as { results: Array<{ event_id: string }> }).results[0].event_id
    await eventually(async () => {
      const dead = (await app.get('/v1/deliveries?status=dead')).body as { deliveries: unknown[] }
      return dead.deliveries.length > 0
    })
    const trace = (await app.get(`/v1/events/${eventId}`)).text
    const dead = (await app.get('/v1/deliveries?status=dead')).text
    for (const [where, text] of [
      ['trace', trace],
      ['dead letters', dead],
    ])
      for (const secret of ['pbx-shared-secret-7f3a9c', 'NETKEY-9d8c7b6a5f'])
        assert.ok(!text.includes(secret), `${secret} in the ${where}`)
    assert.match(trace, /"x-pbx-auth":"\[redacted\]"/)
    receiver.setDefault({ status: 200, body: 'ok' })
  })

  test('a live qualified_call fired by its timer is counted like any signal', async () => {
    await answered('CA-obs-2')
    // both answered calls of this file (CA-obs-1 above too) qualify live, by their timers, and nothing else
    // here derives a qualified_call: two, counted where the timers fire
    await eventually(
      async () => /closeloop_signals_total\{signal="qualified_call"\} 2\n/.test(await metrics()),
      8000,
    )
  })

  test('names in a Slack alert are text: no mention of everyone, no disguised link', () => {
    assert.equal(
      slackText('<!channel> <https://evil.example|re-enter your token> & co'),
      '&lt;!channel&gt; &lt;https://evil.example|re-enter your token&gt; &amp; co',
    )
  })
})
