/**
 * Issue 4, second half: the CPU cost per conversion of building a platform payload from a signal with raw PII
 * — normalizing and SHA-256-hashing email, phone, names and address, mapping the event, serializing the batch
 * request body — measured in-process on the pure builders, without HTTP or the store.
 */
import {
  buildDmEvent,
  buildIngestRequest,
  type DmSettings,
} from '../../src/destinations/google_data_manager/payload.ts'
import { buildServerEvent } from '../../src/destinations/meta_capi/payload.ts'
import type { EcapiEvent } from '../../src/model/ecapi.ts'
import { GRANTED } from '../../src/model/identity.ts'
import type { Signal } from '../../src/model/signal.ts'
import { buyer } from '../lib/conversions.ts'
import { median, round } from '../lib/stats.ts'
import type { Scenario } from './types.ts'

/** Distinct signals per run: every email and phone is new, so nothing is hashed from a warm cache twice. */
const SIGNALS = 5_000
/** Payloads are built per request of this many events (the Meta batch of (f)). */
const BATCH = 100

/** A `closed_outcome` as the call rules produce it: a phone-call purchase with the buyer's raw PII. */
function signalFor(n: number, nowS: number): Signal {
  const event: EcapiEvent = {
    data_set_id: 'bench',
    id: `cv-${n}`,
    timestamp: nowS - 60,
    event_type: 'purchase',
    source: 'phone_call',
    value: 120,
    currency_code: 'USD',
    user_data: { ...buyer(n), event_ip_address: '203.0.113.7' },
    properties: { transaction_id: `ord-${n}` },
    ext: {
      call: { call_id: `CA${n}`, caller: `+1646${200 + (n % 800)}${String(n % 10_000).padStart(4, '0')}` },
    },
  }
  return {
    id: `sig-${n}`,
    name: 'closed_outcome',
    eventId: `evt-${n}`,
    dataSetId: 'bench',
    occurredAt: nowS - 60,
    value: 120,
    currency: 'USD',
    event,
    consent: GRANTED,
    attrs: {},
    causes: [],
    createdAt: nowS * 1000,
  }
}

const DM_SETTINGS: DmSettings = {
  operatingAccount: { accountId: '1234567890', accountType: 'GOOGLE_ADS' },
  conversions: { closed_outcome: '444' },
  defaultRegion: 'US',
}

/** Builds every signal's payload in batches; returns the serialized bytes (kept so nothing is optimized away). */
const BUILDERS: Record<string, (signals: Signal[], nowMs: number) => number> = {
  meta_capi: (signals, nowMs) => {
    let bytes = 0
    for (let i = 0; i < signals.length; i += BATCH) {
      const data = []
      for (const s of signals.slice(i, i + BATCH)) {
        const r = buildServerEvent(s, { nowMs })
        if (!r.ok) throw new Error(`meta payload refused: ${r.code} ${r.message}`)
        data.push(r.event)
      }
      bytes += JSON.stringify({ data }).length
    }
    return bytes
  },
  google_data_manager: (signals) => {
    let bytes = 0
    for (let i = 0; i < signals.length; i += BATCH) {
      const built = []
      for (const s of signals.slice(i, i + BATCH)) {
        const r = buildDmEvent(s, DM_SETTINGS)
        if (!r.ok) throw new Error(`data manager payload refused: ${r.code} ${r.message}`)
        built.push(r)
      }
      bytes += JSON.stringify(buildIngestRequest(built, DM_SETTINGS, { validateOnly: false })).length
    }
    return bytes
  },
}

export const payloadCpu: Scenario = {
  name: 'payload-cpu',
  title: '(g) CPU per conversion: building + hashing platform payloads (in-process)',
  describe:
    `The pure payload builders (meta_capi buildServerEvent, google_data_manager buildDmEvent + buildIngestRequest) ` +
    `on ${SIGNALS.toLocaleString('en-US')} distinct closed_outcome signals with raw email, phone, names and address, ` +
    `in batches of ${BATCH} serialized to JSON. CPU time (process.cpuUsage) per conversion; one warm-up run, ` +
    'then the median of the measured runs.',
  async run(ctx) {
    // 7 runs in full mode: the median of 7 ignores up to 3 runs disturbed by other tenants
    const runs = ctx.quick ? 3 : 7
    const nowS = Math.floor(Date.now() / 1000)
    const rows = []
    const data: Record<string, unknown> = {}
    for (const [name, build] of Object.entries(BUILDERS)) {
      // fresh signals per run: a payload builder that memoized hashes would otherwise look free
      let base = 0
      const nextSignals = () => {
        const out = Array.from({ length: SIGNALS }, (_, i) => signalFor(base + i, nowS))
        base += SIGNALS
        return out
      }
      build(nextSignals(), nowS * 1000)
      const perConv: number[] = []
      let bytes = 0
      for (let r = 0; r < runs; r++) {
        const signals = nextSignals()
        const c0 = process.cpuUsage()
        bytes = build(signals, nowS * 1000)
        const c = process.cpuUsage(c0)
        perConv.push((c.user + c.system) / SIGNALS)
      }
      const med = round(median(perConv), 1)
      ctx.log(`  ${name}: ${perConv.map((x) => round(x, 1)).join(' / ')} µs/conversion`)
      rows.push({
        label: name,
        cells: {
          us: med,
          runs: perConv.map((x) => round(x, 1)).join(' / '),
          perCore: Math.round(1e6 / med),
          bytes: Math.round(bytes / SIGNALS),
        },
      })
      data[name] = { perConversionUs: perConv, medianUs: med, bytesPerConversion: bytes / SIGNALS }
    }
    return {
      columns: {
        us: 'cpu µs/conversion (median)',
        runs: 'runs µs',
        perCore: 'conversions/s per core',
        bytes: 'JSON bytes/conversion',
      },
      rows,
      goals: [],
      notes: ['in the bench process (no HTTP, no store): the floor of what delivering a conversion can cost'],
      data: { signals: SIGNALS, batch: BATCH, runs, ...data },
    }
  },
}
