/**
 * Issue 5: first-touch click capture, `POST /v1/clicks` with a durable ack, against the bare node:http server
 * in the same run (same client, alternating rounds).
 */
import { randomBytes } from 'node:crypto'
import { API_KEY, startBare, startCloseloop } from '../lib/closeloop.ts'
import { round } from '../lib/stats.ts'
import { compareThroughput, throughputTable } from '../lib/throughput.ts'
import type { Scenario } from './types.ts'

/** Same concurrency as (a): enough to keep both cores busy and fill each group commit. */
const CONCURRENCY = 32
/** Issue 5's goal: a landing-page tag fleet's peak, on one node. */
const GOAL_CLICKS_PER_S = 10_000
/** A current desktop Chrome: the click route refuses bots and HTTP libraries by User-Agent. */
const BROWSER_UA =
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36'
const HEADERS = {
  'content-type': 'application/json',
  authorization: `Bearer ${API_KEY}`,
  'user-agent': BROWSER_UA,
}

const RUN = randomBytes(4).toString('hex')
let seq = 0

/** A new visitor with a new gclid: every click is first touch, none is a duplicate of another. */
function clickBody(): string {
  const n = (seq++).toString(36).padStart(8, '0')
  // gclid shape: [A-Za-z0-9_-]{10,512}; 'Cj0KCQiA' is how real ones start
  const gclid = `Cj0KCQiA${randomBytes(18).toString('base64url')}`
  return JSON.stringify({ visitor_id: `v_${RUN}${n}`, url: `https://lp.example/?gclid=${gclid}` })
}

export const clickCapture: Scenario = {
  name: 'click-capture',
  title: '(e) click capture, POST /v1/clicks, durable ack vs bare node:http',
  describe:
    `Closed loop, ${CONCURRENCY} keep-alive connections, one click per POST /v1/clicks ({ visitor_id, url with a ` +
    'gclid }, a new visitor each, API key, a browser User-Agent); closeloop answers after the commit of the click ' +
    'event and the first-touch fact. The bare server parses the same bodies. Rounds alternate.',
  async run(ctx) {
    const results = await compareThroughput({
      contenders: [
        { label: 'closeloop', start: () => startCloseloop({ nodeFlags: ctx.serverFlags }) },
        { label: 'bare node:http', start: () => startBare() },
      ],
      path: '/v1/clicks',
      concurrency: CONCURRENCY,
      eventsPerRequest: 1,
      body: clickBody,
      headers: HEADERS,
      warmupMs: ctx.timing.warmupMs,
      roundMs: ctx.timing.roundMs,
      rounds: ctx.timing.rounds,
      log: ctx.log,
    })
    const [cl, bare] = results
    const ratio = round(cl.medianRps / bare.medianRps, 3)
    return {
      ...throughputTable(results, 'click'),
      goals: [
        {
          what: 'closeloop clicks/s',
          target: `≥ ${GOAL_CLICKS_PER_S.toLocaleString('en-US')}`,
          actual: String(Math.round(cl.medianRps)),
          met: cl.medianRps >= GOAL_CLICKS_PER_S,
        },
      ],
      notes: [
        `closeloop / bare clicks/s: ${ratio.toFixed(2)}`,
        ...(cl.medianCpuMsPerRequest
          ? [
              `one core at ${cl.medianCpuMsPerRequest} ms of CPU per click caps closeloop at ~${Math.round(1000 / cl.medianCpuMsPerRequest)} clicks/s`,
            ]
          : []),
      ],
      data: { concurrency: CONCURRENCY, ratio, results },
    }
  },
}
