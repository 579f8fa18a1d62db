/**
 * Reading ECAPI events as senders really send them. The official examples disagree with the spec
 * (ecapi.md §9): plural field names, `opt_out` / integer `mmt_only`, string prices, `address_type:
 * "billing"`, `item_item_variant`. A receiver accepts those variants and hands the validator the spec's
 * shape; anything still wrong is rejected with its path.
 */

import { MS_THRESHOLD } from '../common.ts'

const USER_DATA_ALIASES: Record<string, string> = {
  email_addresses: 'email_address',
  customer_segment: 'customer_segments',
  addresses: 'address',
}
const ITEM_ALIASES: Record<string, string> = {
  items_coupon: 'item_coupon',
  items_list_id: 'item_list_id',
  items_list_name: 'item_list_name',
  items_variant: 'item_variant',
  item_item_variant: 'item_variant',
  items_location_id: 'item_location_id',
}
const PROPERTY_ALIASES: Record<string, string> = {
  method: 'login_method',
  level: 'character_level',
  score: 'post_score',
}
const ADDRESS_TYPES: Record<string, number> = { billing: 1, shipping: 2, unknown: 3 }
const NUMERIC_ITEM_FIELDS = ['price', 'discount', 'quantity']
const CALL_TIMES = ['started_at', 'answered_at', 'ended_at']

type Obj = Record<string, unknown>
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v)

function renameKeys(o: Obj, aliases: Record<string, string>) {
  for (const [from, to] of Object.entries(aliases))
    if (from in o && !(to in o)) {
      o[to] = o[from]
      delete o[from]
    }
}

/** "12.5" → 12.5 where a number is expected; anything unreadable is left for the validator to report. */
function toNumber(o: Obj, key: string, integer = false) {
  const v = o[key]
  if (typeof v !== 'string' || v.trim() === '') return
  const n = Number(v)
  if (Number.isFinite(n) && (!integer || Number.isInteger(n))) o[key] = n
}

/**
 * Normalizes in place and returns the input (the parsed request body is owned by this request; the raw body is
 * stored separately as received, so a copy would only cost CPU). Never throws on any JSON value.
 */
export function normalizeEcapiEvent(input: unknown): unknown {
  if (!isObj(input)) return input
  const e: Obj = input
  toNumber(e, 'timestamp', true)
  toNumber(e, 'value')
  if (typeof e.currency_code === 'string') e.currency_code = e.currency_code.trim().toUpperCase()
  if (typeof e.event_type === 'string') e.event_type = e.event_type.trim().toLowerCase()
  if (typeof e.source === 'string') e.source = e.source.trim().toLowerCase()
  // a timestamp in milliseconds is a common sender mistake; the spec is seconds
  if (typeof e.timestamp === 'number' && e.timestamp > MS_THRESHOLD)
    e.timestamp = Math.floor(e.timestamp / 1000)
  // the call's times are seconds too, and the same mistake put an answered call in the year 58,000
  const call = isObj(e.ext) ? e.ext.call : undefined
  if (isObj(call))
    for (const k of CALL_TIMES)
      if (typeof call[k] === 'number' && call[k] > MS_THRESHOLD) call[k] = Math.floor(call[k] / 1000)
  const u = e.user_data
  if (isObj(u)) {
    renameKeys(u, USER_DATA_ALIASES)
    if ('opt_out' in u && !('mmt_only' in u)) {
      u.mmt_only = u.opt_out
      delete u.opt_out
    }
    if (u.mmt_only === 0 || u.mmt_only === 1) u.mmt_only = u.mmt_only === 1
    toNumber(u, 'utcoffset', true)
    toNumber(u, 'age_range', true)
    const addrs = Array.isArray(u.address) ? u.address : [u.address]
    for (const a of addrs)
      if (isObj(a) && typeof a.address_type === 'string')
        a.address_type = ADDRESS_TYPES[a.address_type.toLowerCase()] ?? a.address_type
  }
  const p = e.properties
  if (isObj(p)) {
    renameKeys(p, PROPERTY_ALIASES)
    toNumber(p, 'shipping')
    toNumber(p, 'tax')
    if (Array.isArray(p.items))
      for (const it of p.items)
        if (isObj(it)) {
          renameKeys(it, ITEM_ALIASES)
          for (const k of NUMERIC_ITEM_FIELDS) toNumber(it, k)
        }
  }
  return e
}
