import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import type { CallExtension } from '../../model/call.ts'
import type { EcapiEvent } from '../../model/ecapi.ts'
import type { TimerJob } from '../../store/types.ts'
import { compileRoutes } from '../route.ts'
import { compileCallRules, fireCallTimer, timerJourneyKey } from './index.ts'
import { applyCallEvent, callView, currentDisposition, newJourney } from './journey.ts'

const T0 = 1746558464
const ev = (c: Partial<CallExtension>, at: number): EcapiEvent => ({
  data_set_id: 'acme',
  timestamp: at,
  event_type: 'contact',
  ext: { call: { call_id: 'CA1', ...c } },
})

function permutations<T>(xs: T[]): T[][] {
  if (xs.length <= 1) return [xs]
  return xs.flatMap((x, i) => permutations([...xs.slice(0, i), ...xs.slice(i + 1)]).map((p) => [x, ...p]))
}

describe('the journey fold', () => {
  const events = [
    ev({ status: 'ringing', sequence: 0, caller: '2125550000' }, T0),
    ev({ status: 'answered', sequence: 1 }, T0 + 6),
    ev({ call_id: 'CA1-b', parent_call_id: 'CA1', status: 'answered', sequence: 0 }, T0 + 20),
    ev(
      { call_id: 'CA1-b', parent_call_id: 'CA1', status: 'completed', sequence: 1, duration_s: 200 },
      T0 + 220,
    ),
    ev({ status: 'completed', sequence: 2, duration_s: 230 }, T0 + 236),
    ev({ disposition: 'Sale' }, T0 + 300),
  ]

  test('every arrival order (and a repeat of each input) gives the same call view', () => {
    let reference: ReturnType<typeof callView> | undefined
    for (const order of permutations(events)) {
      let j = newJourney('CA1', 'acme')
      for (const e of [...order, ...order]) j = applyCallEvent(j, e, `raw_${events.indexOf(e)}`, 'US')
      const v = callView(j)
      reference ??= v
      assert.deepEqual(v, reference)
      assert.equal(currentDisposition(j)?.reported, 'Sale')
      assert.equal(j.dispositions.length, 1, 'a repeated disposition is one entry')
    }
    assert.deepEqual(
      { ...reference, answerRaw: undefined, endRaw: undefined },
      {
        connected: true,
        answeredAt: T0 + 6,
        startedAt: T0,
        ended: true,
        endedAt: T0 + 236,
        durationS: 230,
        answerRaw: undefined,
        endRaw: undefined,
        terminal: 'completed',
      },
    )
    assert.deepEqual(reference?.answerRaw, ['raw_1'])
    assert.deepEqual(reference?.endRaw, ['raw_4'])
  })

  test('the caller is normalized to E.164; a hashed number is not a caller', () => {
    const j = applyCallEvent(newJourney('CA1', 'acme'), events[0], 'r', 'US')
    assert.equal(j.caller, '+12125550000')
    const h = applyCallEvent(newJourney('CA2', 'acme'), ev({ caller: 'a'.repeat(64) }, T0), 'r', 'US')
    assert.equal(h.caller, undefined)
  })

  test('identifiers keep their first report; consent follows the newest event that carries it', () => {
    const withUser = (user_data: EcapiEvent['user_data'], at: number): EcapiEvent => ({
      ...ev({}, at),
      user_data,
    })
    let j = applyCallEvent(
      newJourney('CA1', 'acme'),
      withUser(
        {
          email_address: 'first@example.com',
          gpp_string: 'GPP-GRANT',
          ext: { consent: { ad_user_data: true } },
        },
        T0,
      ),
      'r1',
      'US',
    )
    j = applyCallEvent(
      j,
      withUser(
        {
          email_address: 'later@example.com',
          gpp_string: 'GPP-OPTOUT',
          mmt_only: true,
          ext: { consent: { ad_user_data: false } },
        },
        T0 + 60,
      ),
      'r2',
      'US',
    )
    j = applyCallEvent(j, withUser({ phone_numbers: '+12125550000' }, T0 + 120), 'r3', 'US')
    assert.equal(j.userData?.email_address, 'first@example.com')
    assert.equal(j.userData?.phone_numbers, '+12125550000')
    assert.deepEqual(
      [j.userData?.gpp_string, j.userData?.mmt_only, j.userData?.ext],
      ['GPP-OPTOUT', true, { consent: { ad_user_data: false } }],
    )
    // newest by the event's time, not by arrival: the grant of T0 arriving after the opt-out changes nothing
    let late = applyCallEvent(
      newJourney('CA1', 'acme'),
      withUser({ gpp_string: 'GPP-OPTOUT', ext: { consent: { ad_user_data: false } } }, T0 + 60),
      'r2',
      'US',
    )
    late = applyCallEvent(
      late,
      withUser({ gpp_string: 'GPP-GRANT', ext: { consent: { ad_user_data: true } } }, T0),
      'r1',
      'US',
    )
    assert.deepEqual(
      [late.userData?.gpp_string, late.userData?.ext],
      ['GPP-OPTOUT', { consent: { ad_user_data: false } }],
    )
  })

  test('the terminal status with the highest sequence wins', () => {
    let j = newJourney('CA1', 'acme')
    j = applyCallEvent(j, ev({ status: 'completed', sequence: 3, duration_s: 10 }, T0 + 10), 'a', 'US')
    j = applyCallEvent(j, ev({ status: 'no_answer', sequence: 2 }, T0 + 12), 'b', 'US')
    assert.equal(callView(j).terminal, 'completed')
  })
})

describe('timers', () => {
  const { rules } = compileCallRules({})
  const pipeline = {
    routes: compileRoutes([{ signals: ['*'], to: ['log'] }]).routes,
    activeDestinations: new Set(['log']),
    consentDefault: 'granted' as const,
  }
  const timer: TimerJob = {
    id: 't1',
    key: 'qualify:CA1',
    kind: 'call.qualify',
    dueAt: (T0 + 120) * 1000,
    payload: { journey: 'call:CA1', eventId: 'evt_1', rawId: 'raw_1' },
    leaseToken: 'x',
  }

  test('timerJourneyKey reads the payload; other kinds are not ours', () => {
    assert.equal(timerJourneyKey(timer), 'call:CA1')
    assert.equal(timerJourneyKey({ ...timer, kind: 'other' }), undefined)
  })

  test('a timer whose journey is gone derives nothing', () => {
    const d = fireCallTimer(
      timer,
      { eventId: 'evt_1', rawId: 'raw_1', facts: {}, now: timer.dueAt },
      rules,
      pipeline,
    )
    assert.deepEqual(d, { signals: [] })
  })

  test('a live call past its floor qualifies when the timer fires', () => {
    const j = applyCallEvent(newJourney('CA1', 'acme'), ev({ status: 'answered' }, T0), 'raw_1', 'US')
    const ctx = {
      eventId: 'evt_1',
      rawId: 'raw_1',
      facts: {},
      now: timer.dueAt,
      journey: { key: 'call:CA1', state: j as unknown as Record<string, unknown> },
    }
    const d = fireCallTimer(timer, ctx, rules, pipeline)
    assert.deepEqual(
      d.signals.map((s) => [s.signal.name, s.signal.attrs.judged, s.destinations]),
      [
        ['call_connected', undefined, ['log']],
        ['qualified_call', 'live', ['log']],
      ],
    )
    assert.equal(d.timers, undefined, 'not re-armed')
  })
})
