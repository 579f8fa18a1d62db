/**
 * Issue 3: a Twilio "answered" status callback (signed, form-encoded) → `call_connected` postback delivered,
 * open loop. The same measurement as (c), through the twilio source and the call rules instead of ECAPI.
 */
import { DATA_SET_ID, startCloseloop } from '../lib/closeloop.ts'
import { LATENCY_COLUMNS, measureLatency } from '../lib/latency.ts'
import { target } from '../lib/load.ts'
import { startReceiver } from '../lib/receiver.ts'
import { round } from '../lib/stats.ts'
import { answeredCallback, TWILIO_TOKEN } from '../lib/twilio.ts'
import type { Scenario } from './types.ts'

/** 200 calls/s: a large call center's peak of answered calls (the brief's rate). */
const RATE = 200
/** DESIGN.md §2: webhook received → destination request sent, p99 < 10 ms. */
const GOAL_P99_MS = 10
/** Rate × ingest time stays far below this: no request ever waits for a free socket. */
const CLIENT_CONNECTIONS = 64
/** Same postback fan-out as (c). */
const POSTBACK_CONCURRENCY = 16
const SOURCE = 'tw'

export const twilioConnected: Scenario = {
  name: 'twilio-connected',
  title: '(d) Twilio answered callback → call_connected postback delivered',
  describe:
    `Open loop at ${RATE} calls/s: each request is a Twilio status callback (form-encoded, CallStatus=in-progress, ` +
    'a new CallSid and caller each, X-Twilio-Signature from the twilio package) to POST /v1/sources/tw/twilio; ' +
    'the call rules derive call_connected, routed to a postback (GET ?id={call_id}) received in the bench ' +
    'process. Latency = receiver arrival − client send.',
  async run(ctx) {
    const rx = await startReceiver()
    const cl = await startCloseloop({
      sources: { [SOURCE]: { type: 'twilio', auth_token: TWILIO_TOKEN, data_set_id: DATA_SET_ID } },
      destinations: {
        pb: {
          type: 'postback',
          method: 'GET',
          url: `http://127.0.0.1:${rx.port}/pb?id={call_id}`,
          allow_private: true,
          concurrency: POSTBACK_CONCURRENCY,
        },
      },
      routes: [{ signals: ['call_connected'], to: ['pb'] }],
      nodeFlags: ctx.serverFlags,
    }).catch(async (err) => {
      await rx.close()
      throw err
    })
    const path = `/v1/sources/${SOURCE}/twilio`
    // the URL closeloop reconstructs from Host (undici sends 127.0.0.1:<port>): what Twilio would have signed
    const url = `http://127.0.0.1:${cl.port}${path}`
    const t = target(cl.port, CLIENT_CONNECTIONS)
    try {
      const r = await measureLatency({
        t,
        rx,
        server: cl,
        rate: RATE,
        path,
        warmupMs: ctx.timing.warmupMs,
        durationMs: ctx.timing.latencyMs,
        next: () => answeredCallback(url),
        eventIdOf: (body) =>
          (JSON.parse(body) as { results: Array<{ event_id: string }> }).results[0]?.event_id,
        log: ctx.log,
      })
      const p99 = r.delivered.p99
      return {
        columns: LATENCY_COLUMNS,
        rows: [{ ...r.row, label: `${RATE} calls/s` }],
        goals: [
          {
            what: `call_connected delivered p99 at ${RATE} calls/s`,
            target: `≤ ${GOAL_P99_MS} ms`,
            actual: `${round(p99)} ms`,
            met: p99 <= GOAL_P99_MS,
          },
        ],
        notes: [
          `duplicate postbacks received: ${rx.duplicates()}`,
          'split = p50 of a traced sample: client send → handler / handler → postback send starts / → receiver',
        ],
        data: { ...r.data, postbackConcurrency: POSTBACK_CONCURRENCY, clientConnections: CLIENT_CONNECTIONS },
      }
    } finally {
      await t.close().catch(() => undefined)
      await cl.stop()
      await rx.close()
    }
  },
}
