import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import type { HttpResponse } from '../http.ts'
import {
  badEventIndex,
  classifyGraphError,
  classifyResponse,
  type MetaErrorClass,
  metaErrorCode,
  metaErrorMessage,
  parseGraphError,
  regainAccessMs,
} from './errors.ts'

const NOW = Date.UTC(2026, 4, 6)

function response(
  status: number | undefined,
  body: string,
  headers: Record<string, string> = {},
): HttpResponse {
  return {
    status,
    body,
    headers,
    exchange: {
      method: 'POST',
      url: 'https://graph.facebook.com/v26.0/1/events',
      headers: {},
      latencyMs: 1,
      status,
    },
  }
}
const graphError = (error: object) =>
  JSON.stringify({ error: { type: 'OAuthException', fbtrace_id: 'AbC', ...error } })

describe('Graph error table (meta-capi.md §9)', () => {
  const table: [number, number | undefined, MetaErrorClass][] = [
    [100, 2804003, 'invalid'],
    [100, 2804009, 'invalid'],
    [100, 2804001, 'invalid'],
    [100, undefined, 'invalid'],
    [100, 33, 'config'],
    [1, undefined, 'transient'],
    [2, undefined, 'transient'],
    [341, undefined, 'transient'],
    [5000, undefined, 'transient'],
    [21009, undefined, 'transient'],
    [4, undefined, 'throttle'],
    [17, undefined, 'throttle'],
    [32, undefined, 'throttle'],
    [613, undefined, 'throttle'],
    [80003, undefined, 'throttle'],
    [80004, undefined, 'throttle'],
    [190, 460, 'auth'],
    [190, 463, 'auth'],
    [190, undefined, 'auth'],
    [104, undefined, 'auth'],
    [3, undefined, 'config'],
    [10, undefined, 'config'],
    [200, undefined, 'config'],
    // 294 sits in Graph's 200–299 permission range ("requires ads_management permission"): a config pause
    [294, undefined, 'config'],
    [2650, undefined, 'rejected'],
    [1487301, undefined, 'rejected'],
    [99999, undefined, 'transient'],
  ]
  test('100 about appsecret_proof → config (request-level, not an event)', () => {
    assert.equal(
      classifyGraphError({ code: 100, message: 'Invalid appsecret_proof provided in the API argument' }),
      'config',
    )
  })
  for (const [code, subcode, cls] of table)
    test(`${code}${subcode ? `/${subcode}` : ''} → ${cls}`, () => {
      assert.equal(classifyGraphError({ code, error_subcode: subcode }), cls)
    })
})

describe('messages and codes', () => {
  test('code with and without subcode', () => {
    assert.equal(metaErrorCode({ code: 190, error_subcode: 463 }), 'META_190_463')
    assert.equal(metaErrorCode({ code: 17 }), 'META_17')
  })
  test("Meta's words are kept, most specific first, with the trace id", () => {
    assert.equal(
      metaErrorMessage({
        message: 'Invalid parameter',
        error_user_title: 'Event Timestamp Too Old',
        error_user_msg: 'The timestamp for this event is too far in the past.',
        fbtrace_id: 'AbC',
      }),
      'Event Timestamp Too Old: The timestamp for this event is too far in the past. (Invalid parameter) [fbtrace_id AbC]',
    )
    assert.equal(
      metaErrorMessage({ message: '(#17) User request limit reached' }),
      '(#17) User request limit reached',
    )
  })
  test('bad event index from data[i] or "index i"', () => {
    assert.equal(badEventIndex({ error_user_msg: 'Missing value (data[3])' }), 3)
    assert.equal(badEventIndex({ message: 'Invalid event at index 12' }), 12)
    assert.equal(badEventIndex({ message: 'Invalid parameter' }), undefined)
  })
  test('usage header regain time, minutes → ms; garbage ignored', () => {
    assert.equal(
      regainAccessMs({
        'x-business-use-case-usage': JSON.stringify({
          1: [{ estimated_time_to_regain_access: 2 }, { estimated_time_to_regain_access: 5 }],
        }),
      }),
      300_000,
    )
    assert.equal(regainAccessMs({ 'x-business-use-case-usage': 'not json' }), undefined)
    assert.equal(regainAccessMs({}), undefined)
  })
  test('parseGraphError: only a JSON object with an error object', () => {
    assert.equal(parseGraphError('<html>502</html>'), undefined)
    assert.equal(parseGraphError('{"events_received":1}'), undefined)
    assert.equal(parseGraphError('{"error":'), undefined)
    assert.equal(parseGraphError(graphError({ code: 1 }))?.code, 1)
  })
})

describe('classifyResponse', () => {
  test('2xx → delivered with events_received and fbtrace_id', () => {
    const v = classifyResponse(response(200, '{"events_received":2,"messages":[],"fbtrace_id":"Xy"}'), NOW)
    assert.equal(v.outcome.kind, 'delivered')
    assert.equal(v.outcome.message, 'events_received=2 fbtrace_id=Xy')
  })
  test('throttling arrives as HTTP 400: the Graph code decides, not the status', () => {
    const v = classifyResponse(
      response(400, graphError({ code: 17, message: 'limit' }), { 'retry-after': '12' }),
      NOW,
    )
    assert.deepEqual([v.outcome.kind, v.outcome.retryAfterMs, v.halt], ['throttled', 12_000, true])
  })
  test('invalid parameter → permanent, isolate, with the named index', () => {
    const v = classifyResponse(response(400, graphError({ code: 100, error_user_msg: 'bad (data[4])' })), NOW)
    assert.deepEqual([v.outcome.kind, v.isolate, v.badIndex, v.halt], ['permanent', true, 4, false])
  })
  test('a rejected code (105, 2650…) → permanent, isolated like an invalid parameter', () => {
    const v = classifyResponse(response(400, graphError({ code: 105, message: 'too many parameters' })), NOW)
    assert.deepEqual(
      [v.outcome.kind, v.outcome.code, v.isolate, v.halt],
      ['permanent', 'META_105', true, false],
    )
  })
  test('auth → paused and halt', () => {
    const v = classifyResponse(response(401, graphError({ code: 190, error_subcode: 460 })), NOW)
    assert.deepEqual([v.outcome.kind, v.outcome.code, v.halt], ['paused', 'META_190_460', true])
  })
  test('non-Graph bodies fall back to the HTTP rule', () => {
    assert.equal(classifyResponse(response(503, '<html>down</html>'), NOW).outcome.kind, 'retry')
    assert.equal(classifyResponse(response(429, ''), NOW).outcome.kind, 'throttled')
    assert.equal(classifyResponse(response(404, '<html>nope</html>'), NOW).outcome.kind, 'permanent')
    assert.equal(classifyResponse(response(undefined, ''), NOW).outcome.kind, 'retry')
  })
})
