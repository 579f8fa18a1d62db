/**
 * The ECAPI ingest stage: an accepted event → one signal named after its event_type (call rules add more
 * in `rules/`), routed to its destinations. Pure: the store runs `derive` inside its transaction.
 */
import { type ConsentOptions, signalConsent } from '../identity/consent.ts'
import type { EcapiEvent } from '../model/ecapi.ts'
import type { IngestItem } from '../store/types.ts'
import { leadKey, leadPhone, legacyLeadKey, type VisitorFacts, visitorKey } from './attribution/index.ts'
import { dedupKey } from './dedup.ts'

/** A form's phone stays linked to its visitor's click as long as a click counts (90 days). */
const LEAD_TTL_MS = 90 * 86_400_000

import { destinationsFor, type Route } from './route.ts'
import { ecapiSignalName, makeSignal } from './signal.ts'

export interface PipelineConfig {
  routes: Route[]
  /** Destinations that exist and are enabled; routes to others create nothing. */
  activeDestinations: ReadonlySet<string>
  consentDefault: 'granted' | 'denied'
  /** `consent.sensitive_data`, `malformed_gpp`, `tcf_vendor_ids` (docs/consent.md); absent = their defaults. */
  consentOptions?: Omit<ConsentOptions, 'audience'>
  /** `calls.write_legacy_names`: a form's phone is also written under the key an earlier build reads. */
  writeLegacyNames?: boolean
}

export function routeTo(cfg: PipelineConfig, signal: Parameters<typeof destinationsFor>[1]): string[] {
  return destinationsFor(cfg.routes, signal).filter((d) => cfg.activeDestinations.has(d))
}

export function ecapiItem(event: EcapiEvent, cfg: PipelineConfig): IngestItem {
  const key = dedupKey(event)
  // a form event (visitor id + phone) lets a later call from that phone find the visitor's click
  const phone = leadPhone(event)
  const visitor = phone
    ? visitorKey(event.data_set_id, String((event.ext as { visitor_id: string }).visitor_id))
    : undefined
  return {
    event,
    dedupKey: key,
    ...(visitor ? { facts: [visitor] } : {}),
    derive({ eventId, rawId, now, facts }) {
      const touch = visitor ? (facts[visitor] as VisitorFacts | undefined)?.first : undefined
      const lead = { value: { touch }, ttlMs: LEAD_TTL_MS }
      const leadFacts =
        phone && touch
          ? {
              [leadKey(event.data_set_id, phone)]: lead,
              ...(cfg.writeLegacyNames ? { [legacyLeadKey(phone)]: lead } : {}),
            }
          : undefined
      const signal = makeSignal({
        basis: key ?? eventId,
        idAt: event.timestamp,
        name: ecapiSignalName(event),
        eventId,
        event,
        ...signalConsent(event, cfg.consentDefault, cfg.consentOptions),
        causes: [rawId],
        now,
      })
      return {
        signals: [{ signal, destinations: routeTo(cfg, signal) }],
        ...(leadFacts ? { facts: leadFacts } : {}),
      }
    },
  }
}
