/**
 * The scenario registry: `npm run bench` runs these in order; `--only <name>` picks some.
 *
 * To add a scenario: write `bench/scenarios/<name>.ts` exporting a `Scenario` (see `types.ts`; reuse
 * `lib/closeloop.ts` to start the server, `lib/load.ts` for load, `lib/receiver.ts` for a destination mock,
 * `lib/throughput.ts` for A/B rounds against a baseline, `lib/latency.ts` for an open-loop "→ delivered"
 * window, `lib/pg.ts` for a throwaway PostgreSQL database), add it to SCENARIOS, and give it an
 * `unavailable()` if it depends on something that may be absent (a PostgreSQL server, a source not built yet).
 */

import { clickCapture } from './click-capture.ts'
import { deliveryLatency, makeDeliveryLatency } from './delivery-latency.ts'
import { ingestBatch } from './ingest-batch.ts'
import { ingestSingle } from './ingest-single.ts'
import { payloadCpu } from './payload-cpu.ts'
import { pgBacklog } from './pg-backlog.ts'
import { pgIngest } from './pg-ingest.ts'
import { pgJobQueue } from './pg-jobqueue.ts'
import { pgTwoNodes } from './pg-nodes.ts'
import { platformDelivery } from './platform-delivery.ts'
import { twilioConnected } from './twilio-connected.ts'
import type { Scenario } from './types.ts'

export const SCENARIOS: Scenario[] = [
  ingestSingle,
  ingestBatch,
  deliveryLatency,
  twilioConnected,
  clickCapture,
  platformDelivery,
  payloadCpu,
  pgIngest,
  makeDeliveryLatency({
    name: 'pg-delivery-latency',
    title: '(i) ingest → postback delivered on PostgreSQL, open loop',
    // 200/s: the brief's rate for PostgreSQL (the 1,000/s stress point already falls behind on SQLite here)
    rates: [200],
    postgres: true,
  }),
  pgTwoNodes,
  pgJobQueue,
  pgBacklog,
]

/** Scenarios that belong here once what they measure exists; listed by `--list` so the gap stays visible. */
export const PLANNED: Array<{ name: string; what: string; needs: string }> = [
  {
    name: 'meta-throttled',
    what: 'delivery p99 and conversions/s while the Graph mock answers throttling (codes 4/17/613) part of the time',
    needs: 'platform-delivery with graph.inject({ kind: "throttle" }) on a schedule',
  },
  {
    name: 'google-ads-throughput',
    what: 'conversions/s to a local Google Ads API mock (google_ads destination, click conversion upload)',
    needs: 'a Google Ads API mock server like the Data Manager one',
  },
]
