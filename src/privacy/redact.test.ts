import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { identityKey, sha256Hex } from '../identity/hash.ts'
import {
  auditSubject,
  hashEmail,
  hashPhone,
  likePatterns,
  literalPattern,
  phonePattern,
  redactor,
  type Subject,
  subjectOf,
} from './redact.ts'
import { mentions, scrubAttempt, scrubRaw } from './rows.ts'

// official ECAPI vectors (shared/reference/ecapi.md §8)
const EMAIL_HASH = 'b4c9a289323b21a01c3e940f150eb9b8c542587f1abfd8f0e1cc1ffc5e475514'
const PHONE_HASH = '7c8d08bf90ca322bcac37f99ba14e980e4b1f5ba919f7e16a030af9070ba125e'
const UA = 'Mozilla/5.0 (X11; Linux x86_64) Firefox/126.0'

const event = {
  data_set_id: 'acme',
  user_data: {
    email_address: [' User@example.com '],
    phone_numbers: ['+1 212-555-0000'],
    event_ip_address: '203.0.113.7',
    event_user_agent: UA,
    landing_ip_address: '2001:db8::1',
    address: { first_name: ' Jane ', city: 'new york' },
  },
  ext: { call: { call_id: 'CA1', caller: '(212) 555-0000', tracking_number: '+18005550199' } },
}

describe('hashing follows ECAPI normalization', () => {
  test('official vectors; hashes pass through', () => {
    assert.equal(hashEmail(' User@example.com '), EMAIL_HASH)
    assert.equal(hashPhone('+1 212-555-0000'), PHONE_HASH)
    assert.equal(hashPhone('2125550000'), PHONE_HASH)
    assert.equal(hashPhone(PHONE_HASH.toUpperCase()), PHONE_HASH)
    assert.equal(hashPhone('client:alice'), sha256Hex('client:alice'))
  })
})

describe('redactor: retain mode (retention)', () => {
  const r = redactor({ context: [event] })

  test('emails and phones become their SHA-256, IPs and user agents go, other fields stay', () => {
    assert.deepEqual(r.json(event), {
      data_set_id: 'acme',
      user_data: {
        email_address: [EMAIL_HASH],
        phone_numbers: [PHONE_HASH],
        address: { first_name: sha256Hex('jane'), city: 'new york' },
      },
      ext: { call: { call_id: 'CA1', caller: PHONE_HASH, tracking_number: '+18005550199' } },
    })
  })

  test('idempotent: a redacted document redacts to itself', () => {
    const once = r.json(event)
    assert.deepEqual(redactor({ context: [once] }).json(once), once)
  })

  test('free text: every format of a found value, percent- and form-encoded', () => {
    for (const s of [
      '+12125550000',
      '%2B12125550000',
      '(212) 555-0000',
      '212-555-0000',
      '212.555.0000',
      '2125550000',
      '12125550000',
      '212+555+0000',
      '%28212%29%20555-0000',
    ])
      assert.equal(r.text(`c=${s}&x=1`), `c=${PHONE_HASH}&x=1`, s)
    assert.equal(r.text('e=user%40example.com'), `e=${EMAIL_HASH}`)
    assert.equal(r.text('e=USER@EXAMPLE.COM'), `e=${EMAIL_HASH}`)
    assert.equal(r.text(`ua=${encodeURIComponent(UA)}`), 'ua=[redacted]')
    assert.equal(r.text(`ua=${new URLSearchParams({ u: UA }).toString().slice(2)}`), 'ua=[redacted]')
    // an IP inside a longer one is another address
    assert.equal(r.text('ip 203.0.113.7 and 203.0.113.70'), 'ip [redacted] and 203.0.113.70')
  })

  test('generic pass: an email or a +E.164 number nobody announced', () => {
    const g = redactor({ context: [] })
    assert.equal(g.text('mail bob@corp.io now'), `mail ${sha256Hex('bob@corp.io')} now`)
    assert.equal(g.text('to=%2B442079460958'), `to=${sha256Hex('+442079460958')}`)
    assert.equal(g.text('(646) 555-1234'), sha256Hex('+16465551234'))
    // too short to be a phone, and timestamps without a +, stay
    assert.equal(g.text('tz +0000 at 1746558464'), 'tz +0000 at 1746558464')
  })

  test('nested JSON strings (an attempt body) are walked, not just searched', () => {
    const body = JSON.stringify({ user_data: { em: ['x@y.co'], client_ip_address: '203.0.113.9' } })
    assert.deepEqual(JSON.parse(String(r.json({ body }) && (r.json({ body }) as { body: string }).body)), {
      user_data: { em: [sha256Hex('x@y.co')] },
    })
  })

  test('raw bodies: JSON, form, a request URL; anything else becomes a note', () => {
    const form = scrubRaw(
      {
        body: 'From=%2B12125550000&To=%2B18005550199&CallerCity=NYC',
        headers: { 'user-agent': UA },
        result: null,
      },
      [],
    )
    assert.equal(form.body, `From=${PHONE_HASH}&To=%2B18005550199`)
    assert.deepEqual(form.headers, {})
    const url = scrubRaw(
      { body: '/v1/sources/cc/postback?caller=(212)%20555-0000&v=1', headers: {}, result: null },
      [],
    )
    assert.equal(url.body, `/v1/sources/cc/postback?caller=${PHONE_HASH}&v=1`)
    const json = scrubRaw({ body: JSON.stringify({ caller: 2125550000 }), headers: {}, result: null }, [])
    assert.equal(json.body, JSON.stringify({ caller: PHONE_HASH }))
    const junk = scrubRaw({ body: 'call 212 555 0000 <xml>', headers: {}, result: null }, [])
    assert.match(junk.body, /^\[scrubbed: unparseable body, 23 bytes, sha256 [0-9a-f]{64}\]$/)
  })

  test('a long batch is redacted event by event: each with its own values, its canonical event and the row’s', () => {
    const phone = (i: number) => `+1212555${String(1000 + i)}`
    const events = Array.from({ length: 40 }, (_, i) => ({
      id: `e${i}`,
      user_data: { email_address: `u${i}@example.com`, event_ip_address: `198.51.100.${i}` },
      // free text: the address this event came from, and the number only its canonical event names
      properties: {
        note: `from 198.51.100.${i} via 203.0.113.250, call 212 555 ${1000 + i}`,
        page_url: `https://x.test/?m=u${i}%40example.com`,
      },
    }))
    const canonical = events.map((e, i) => ({ id: e.id, user_data: { phone_numbers: [phone(i)] } }))
    const body = JSON.stringify({ events, agent: 'crm-sync 203.0.113.250', client_ip: '203.0.113.250' })
    const out = JSON.parse(scrubRaw({ body, headers: {}, result: null }, canonical).body)
    for (let i = 0; i < 40; i++) {
      const e = out.events[i]
      assert.equal(e.user_data.email_address, sha256Hex(`u${i}@example.com`))
      assert.equal(e.user_data.event_ip_address, undefined)
      assert.equal(e.properties.note, `from [redacted] via [redacted], call ${sha256Hex(phone(i))}`)
      assert.equal(e.properties.page_url, `https://x.test/?m=${sha256Hex(`u${i}@example.com`)}`)
    }
    // the row's own fields outside the batch are redacted as before
    assert.equal(out.agent, 'crm-sync [redacted]')
  })

  test('thousands of values in one record: each field still hashed; free text by the generic passes past the cap', () => {
    const emails = Array.from({ length: 2000 }, (_, i) => `p${i}@example.com`)
    const doc = { email_address: emails, notes: emails.map((e) => `write to ${e}`) }
    const out = redactor({ context: [doc] }).json(doc) as typeof doc
    assert.deepEqual(
      out.email_address,
      emails.map((e) => sha256Hex(e)),
    )
    assert.deepEqual(
      out.notes,
      emails.map((e) => `write to ${sha256Hex(e)}`),
    )
  })

  test('keys named after Object’s own properties are plain keys: a sender’s __proto__ or constructor', () => {
    const form = scrubRaw(
      { body: 'constructor=1&__proto__=x&From=%2B12125550000', headers: {}, result: null },
      [],
    )
    assert.equal(form.body, `constructor=1&__proto__=x&From=${PHONE_HASH}`)
    const body = '{"__proto__":{"caller":"+12125550000"},"constructor":"y","toString":"z"}'
    const json = scrubRaw({ body, headers: {}, result: null }, [])
    assert.equal(json.body, `{"__proto__":{"caller":"${PHONE_HASH}"},"constructor":"y","toString":"z"}`)
  })

  test('a field holding a huge value (a JSON document in a form field) is still scrubbed, and nothing throws', () => {
    let deep = '1'
    for (let i = 0; i < 3000; i++) deep = `{"a":${deep}}`
    const body = new URLSearchParams({
      CallerCity: deep,
      From: '+12125550000',
      Note: `see ${deep}`,
    }).toString()
    const out = scrubRaw({ body, headers: {}, result: null }, [])
    const params = new URLSearchParams(out.body)
    assert.equal(params.get('CallerCity'), null)
    assert.equal(params.get('From'), PHONE_HASH)
  })

  test('an attempt is scrubbed knowing the signal it sent', () => {
    const next = scrubAttempt(
      {
        exchange: { url: 'https://n.test/pb?c=%2B12125550000', headers: {}, response: 'bad 212-555-0000' },
        message: 'caller (212) 555-0000',
        lastError: null,
      },
      { event },
    )
    assert.deepEqual(next.exchange, {
      url: `https://n.test/pb?c=${PHONE_HASH}`,
      headers: {},
      response: `bad ${PHONE_HASH}`,
    })
    assert.equal(next.message, `caller ${PHONE_HASH}`)
  })
})

describe('redactor: forget mode (subject deletion)', () => {
  const subject = subjectOf({ email: 'user@example.com', phone: '2125550000' }) as Subject

  test('the subject is built from raw values with every hash stored anywhere', () => {
    assert.deepEqual(subject.emails, ['user@example.com'])
    assert.deepEqual(subject.phones, ['+12125550000'])
    for (const h of [EMAIL_HASH, PHONE_HASH, sha256Hex('12125550000'), identityKey('+12125550000')])
      assert.ok(subject.hashes.includes(h))
    assert.match(auditSubject(subject), /^[0-9a-f]{64}$/)
    assert.deepEqual(subjectOf({ email: 'nope', phone: '12' }), [
      { path: '/email', message: 'not an email address' },
      { path: '/phone', message: 'not a phone number (use E.164, e.g. +12125550000)' },
    ])
    // a control character is in no address (and PostgreSQL cannot hold a NUL in a search term)
    assert.deepEqual(subjectOf({ email: 'user@example.com\u0000' }), [
      { path: '/email', message: 'not an email address' },
    ])
  })

  test('values and hashes of the subject are removed; others are hashed as in retention', () => {
    const r = redactor({ context: [event], subject })
    const doc = {
      ...event,
      user_data: { ...event.user_data, email_address: [' User@example.com ', 'other@x.co'] },
    }
    const out = r.json(doc) as typeof event
    assert.deepEqual(out.user_data.email_address, [sha256Hex('other@x.co')])
    assert.deepEqual(out.user_data.phone_numbers, [])
    assert.equal((out.ext.call as { caller?: string }).caller, undefined)
    assert.equal(r.text(`em=${EMAIL_HASH}&ph=${sha256Hex('12125550000')}`), 'em=[deleted]&ph=[deleted]')
    assert.equal(r.text(`phone:${identityKey('+12125550000')}`), 'phone:[deleted]')
  })

  test('mentions: any format or hash of the subject, nothing else', () => {
    assert.ok(mentions(subject, ['x (212) 555-0000']))
    assert.ok(mentions(subject, ['caller=%2B12125550000']))
    assert.ok(mentions(subject, [`{"em":"${EMAIL_HASH}"}`]))
    assert.ok(mentions(subject, ['USER%40EXAMPLE.COM']))
    assert.ok(!mentions(subject, ['(212) 555-0001 other@example.com 12125550000123']))
  })

  test('LIKE pre-filter patterns cover every format', () => {
    const pats = likePatterns(subject)
    assert.ok(pats.includes('%212%555%0000%'))
    assert.ok(pats.includes('%user\\%40example.com%'))
    const like = (p: string) =>
      new RegExp(
        `^${p
          .replace(/\\%/g, '\u0000')
          .replace(/[.+()]/g, '\\$&')
          .replaceAll('%', '.*')
          .replaceAll('\u0000', '%')}$`,
        'i',
      )
    for (const s of ['x(212) 555-0000', '%2B12125550000', 'a user%40example.com b'])
      assert.ok(
        pats.some((p) => like(p).test(s)),
        s,
      )
  })
})

describe('patterns', () => {
  test('literalPattern matches encoded forms', () => {
    assert.ok(new RegExp(literalPattern('jane+x@example.com'), 'i').test('jane%2Bx%40EXAMPLE.com'))
  })
  test('phonePattern matches national and international formats, not longer numbers', () => {
    const re = new RegExp(phonePattern('+442079460958')!, 'i')
    assert.ok(re.test('020 7946 0958'))
    assert.ok(re.test('+44 20 7946 0958'))
    assert.ok(re.test('0044 20 7946 0958'))
    assert.ok(!re.test('2079460958123'))
  })
})
