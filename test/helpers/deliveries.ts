/**
 * Delivered conversions written straight into a store at a chosen time: the history (a baseline week) that
 * the match rate and the reports read, which requests over HTTP, stamped with the present, cannot make.
 *
 * @example
 *   await deliverAt(store, Date.now() - 3 * 86_400_000, 40, ['fbc']) // 40 matched, three days ago
 */
import { GRANTED } from '../../src/model/identity.ts'
import { newId } from '../../src/store/ids.ts'
import type { Store } from '../../src/store/types.ts'

let n = 0

/** `count` `qualified_call` conversions of `campaign` to `destination`, ingested and delivered at `at`. */
export async function deliverAt(
  store: Store,
  at: number,
  count: number,
  matchKeys: string[],
  opts: { campaign?: string; destination?: string } = {},
) {
  const destination = opts.destination ?? 'meta'
  const items = Array.from({ length: count }, () => {
    const id = `hist-${process.pid}-${++n}`
    const event = {
      data_set_id: 'acme',
      id,
      timestamp: Math.floor(at / 1000),
      event_type: 'purchase' as const,
    }
    const call = { call_id: id, ...(opts.campaign ? { campaign: opts.campaign } : {}) }
    return {
      event,
      derive: (ctx: { eventId: string; rawId: string }) => ({
        signals: [
          {
            signal: {
              id: `sig-${id}`,
              name: 'qualified_call',
              eventId: ctx.eventId,
              dataSetId: 'acme',
              occurredAt: Math.floor(at / 1000),
              event: { ...event, ext: { call } },
              consent: GRANTED,
              attrs: {},
              causes: [ctx.rawId],
              createdAt: at,
            },
            destinations: [destination],
          },
        ],
      }),
    }
  })
  const raw = {
    id: newId('raw', at),
    source: 'ecapi',
    kind: 'events',
    receivedAt: at,
    headers: {},
    body: '{}',
  }
  const lease = { token: `hist-${n}`, untilMs: at + 3_600_000, destinations: new Set([destination]) }
  const res = await store.ingest({ raw, items, lease }, at)
  await store.recordAttempts(
    res.leased.map((j) => ({
      deliveryId: j.delivery.id,
      leaseToken: j.leaseToken,
      attempt: { deliveryId: j.delivery.id, n: 1, startedAt: at, outcome: 'delivered' as const },
      next: { status: 'delivered' as const, dueAt: at, attempts: 1, matchKeys },
    })),
    at + 1,
  )
}
