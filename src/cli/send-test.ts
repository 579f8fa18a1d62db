/**
 * `closeloop send-test --destination <name>`: builds a synthetic phone-call conversion with the pipeline's own
 * functions (consent, signal id, routing-independent), sends it to one configured destination in the platform's
 * test mode (Meta test_event_code, Google validate_only/validateOnly; a postback, webhook or ECAPI partner has no
 * test flag, so only its test_url), and prints the request and the response.
 * Nothing is written to the store.
 */
import type { ResolvedConfig } from '../config/load.ts'
import type { CommonDestinationConfig } from '../destinations/contract.ts'
import { createHttpClient } from '../destinations/http.ts'
import { DESTINATIONS } from '../destinations/registry.ts'
import { decideConsent } from '../identity/consent.ts'
import type { EcapiEvent } from '../model/ecapi.ts'
import type { Delivery, Outcome } from '../model/signal.ts'
import { makeSignal } from '../pipeline/signal.ts'

export async function sendTest(
  config: ResolvedConfig,
  name: string,
  signalName = 'disposition:Sale',
): Promise<Outcome> {
  const plugin = config.destinations[name]
  if (!plugin)
    throw new Error(`no destination "${name}" (have: ${Object.keys(config.destinations).join(', ')})`)
  if (!plugin.enabled) throw new Error(`destination "${name}" is disabled: ${plugin.disabledReason}`)
  const def = DESTINATIONS[plugin.type]
  const cfg = { ...(plugin.config as unknown as CommonDestinationConfig), test_mode: true }
  const now = Date.now()
  const ts = Math.floor(now / 1000)
  const event: EcapiEvent = {
    data_set_id: 'closeloop-send-test',
    id: `send-test-${now}`,
    timestamp: ts,
    event_type: 'close_convert_lead',
    value: 99,
    currency_code: 'USD',
    source: 'phone_call',
    user_data: { email_address: 'test@example.com', phone_numbers: '+12125550000' },
    ext: {
      call: {
        call_id: `CAtest${now}`,
        status: 'completed',
        caller: '+12125550000',
        tracking_number: '+18005550100',
        campaign: 'send-test',
        started_at: ts - 300,
        answered_at: ts - 290,
        ended_at: ts,
        duration_s: 290,
        disposition: 'Sale',
      },
      click_ids: { gclid: 'TeSter-123-send-test', fbclid: 'IwAR-send-test', clicked_at: now - 3_600_000 },
    },
  }
  const signal = makeSignal({
    basis: `send-test:${now}`,
    name: signalName,
    eventId: 'evt_send_test',
    event,
    consent: decideConsent(event, 'granted'),
    causes: [],
    now,
  })
  const delivery: Delivery = {
    id: `dlv_send_test_${now}`,
    signalId: signal.id,
    destination: name,
    status: 'in_flight',
    attempts: 0,
    dueAt: now,
    idempotencyKey: signal.id,
    createdAt: now,
    updatedAt: now,
  }
  const http = createHttpClient({ allowPrivate: cfg.allow_private === true })
  const log = { info: () => undefined, warn: () => undefined }
  try {
    const dest = def.create(name, cfg as never)
    const [outcome] = await dest.send([{ delivery, signal }], { http, testMode: true, now: Date.now, log })
    return outcome
  } finally {
    await http.close()
  }
}
