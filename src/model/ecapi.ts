/**
 * The IAB Tech Lab ECAPI 1.0 event, closeloop's canonical event shape, as one TypeBox schema.
 *
 * The same schema validates `POST /v1/events` and is published in the OpenAPI document. Every object
 * carries `ext` (ECAPI's extension point); call data lives under `ext.call` (see `call.ts`).
 * "string, array" fields in the spec accept a scalar or an array, so both are allowed here.
 *
 * @example
 *   const event: EcapiEvent = { data_set_id: 'acme', id: 'o-1', timestamp: 1746558464, event_type: 'purchase' }
 */
import { type Static, Type as T } from '@sinclair/typebox'
import { CallExtension, EPOCH_S_MAX } from './call.ts'
import { ClickIdentity } from './identity.ts'

const Ext = T.Record(T.String(), T.Unknown(), { description: 'partner-specific extensions' })
const ScalarOrArray = <S extends ReturnType<typeof T.String>>(s: S) => T.Union([s, T.Array(s)])
const Sha256OrRaw = T.String({ maxLength: 512 })

export const EVENT_TYPES = [
  'purchase',
  'page_view',
  'ad_impression',
  'add_to_wishlist',
  'add_to_cart',
  'viewed_cart',
  'viewed_item',
  'begin_checkout',
  'add_payment_info',
  'remove_from_cart',
  'refund',
  'generate_lead',
  'qualify_lead',
  'close_convert_lead',
  'disqualify_lead',
  'close_unconvert_lead',
  'sign_up',
  'search',
  'unlock_achievement',
  'install',
  'customize_product',
  'contact',
  'donate',
  'find_location',
  'schedule',
  'start_trial',
  'subscribe',
  'custom',
  // lower-priority events of the spec
  'add_shipping_info',
  'share',
  'select_content',
  'select_item',
  'select_promotion',
  'view_item_list',
  'view_promotion',
  'view_search_results',
  'spend_virtual_currency',
  'earn_virtual_currency',
  'working_lead',
  'login',
  'join_group',
  'level_up',
  'post_score',
  'tutorial_begin',
  'tutorial_complete',
] as const
export type EventType = (typeof EVENT_TYPES)[number]

export const EVENT_SOURCES = [
  'email',
  'website',
  'app',
  'phone_call',
  'chat',
  'physical_store',
  'system_generated',
  'business_messaging',
  'other',
] as const
export type EventSource = (typeof EVENT_SOURCES)[number]

const literalUnion = <V extends readonly string[]>(values: V) => T.Union(values.map((v) => T.Literal(v)))
const intEnum = (max: number) => T.Integer({ minimum: 1, maximum: max })

export const Uid = T.Object(
  {
    id: Sha256OrRaw,
    source: T.Optional(T.String({ maxLength: 255 })),
    atype: T.Optional(T.Integer()),
    ext: T.Optional(Ext),
  },
  { additionalProperties: true },
)

export const Address = T.Object(
  {
    first_name: T.Optional(Sha256OrRaw),
    last_name: T.Optional(Sha256OrRaw),
    street: T.Optional(Sha256OrRaw),
    city: T.Optional(T.String({ maxLength: 255 })),
    state: T.Optional(T.String({ maxLength: 255 })),
    country_code: T.Optional(T.String({ maxLength: 64 })),
    postal_code: T.Optional(Sha256OrRaw),
    address_type: T.Optional(intEnum(3)),
    ext: T.Optional(Ext),
  },
  { additionalProperties: true },
)
export type Address = Static<typeof Address>

export const UserData = T.Object(
  {
    customer_identifier: T.Optional(Sha256OrRaw),
    uids: T.Optional(T.Array(Uid, { maxItems: 50 })),
    customer_segments: T.Optional(ScalarOrArray(T.String({ maxLength: 255 }))),
    email_address: T.Optional(ScalarOrArray(T.String({ maxLength: 512 }))),
    phone_numbers: T.Optional(ScalarOrArray(T.String({ maxLength: 128 }))),
    utcoffset: T.Optional(T.Integer({ minimum: -840, maximum: 840 })),
    address: T.Optional(T.Union([Address, T.Array(Address, { maxItems: 10 })])),
    gpp_string: T.Optional(T.String({ maxLength: 8192 })),
    gpp_sid: T.Optional(T.Array(T.Integer(), { maxItems: 32 })),
    mmt_only: T.Optional(T.Boolean()),
    click_id: T.Optional(T.String({ maxLength: 1024 })),
    impression_id: T.Optional(T.String({ maxLength: 1024 })),
    event_ip_address: T.Optional(T.String({ format: 'ip', maxLength: 64 })),
    event_user_agent: T.Optional(T.String({ maxLength: 2048 })),
    ifa: T.Optional(T.String({ maxLength: 128 })),
    landing_ip_address: T.Optional(T.String({ format: 'ip', maxLength: 64 })),
    landing_user_agent: T.Optional(T.String({ maxLength: 2048 })),
    age_range: T.Optional(intEnum(13)),
    gender: T.Optional(T.String({ maxLength: 128 })),
    ext: T.Optional(Ext),
  },
  { additionalProperties: true },
)
export type UserData = Static<typeof UserData>

export const Item = T.Object(
  {
    id: T.Optional(T.String({ maxLength: 255 })),
    name: T.Optional(T.String({ maxLength: 1024 })),
    price: T.Optional(T.Number()),
    discount: T.Optional(T.Number()),
    quantity: T.Optional(T.Number()),
    brand: T.Optional(T.String()),
    affiliation: T.Optional(T.String()),
    category: T.Optional(T.String()),
    cattax: T.Optional(T.Union([T.Integer(), T.String()])),
    item_coupon: T.Optional(T.String()),
    item_list_id: T.Optional(T.String()),
    item_list_name: T.Optional(T.String()),
    item_variant: T.Optional(T.String()),
    item_location_id: T.Optional(T.String()),
    ext: T.Optional(Ext),
  },
  { additionalProperties: true },
)

const DateString = T.String({ pattern: '^\\d{4}-?\\d{2}-?\\d{2}$' })

export const Properties = T.Object(
  {
    transaction_id: T.Optional(T.String({ maxLength: 255 })),
    items: T.Optional(T.Array(Item, { maxItems: 1000 })),
    page_url: T.Optional(T.String({ maxLength: 4096 })),
    ad_source: T.Optional(T.String()),
    referrer: T.Optional(T.String({ maxLength: 4096 })),
    coupon: T.Optional(ScalarOrArray(T.String())),
    shipping: T.Optional(T.Number()),
    tax: T.Optional(T.Number()),
    payment_type: T.Optional(ScalarOrArray(T.String())),
    shipping_tier: T.Optional(T.String()),
    virtual_currency_name: T.Optional(T.String()),
    virtual_item_name: T.Optional(T.String()),
    lead_source: T.Optional(T.String()),
    lead_status: T.Optional(T.String()),
    lead_reason: T.Optional(T.String()),
    ad_platform: T.Optional(T.String()),
    ad_format: T.Optional(T.String()),
    ad_unit_name: T.Optional(T.String()),
    login_method: T.Optional(T.String()),
    group_id: T.Optional(T.String()),
    character_level: T.Optional(T.Integer()),
    character: T.Optional(T.String()),
    post_score: T.Optional(T.Integer()),
    achievement_id: T.Optional(T.String()),
    search_term: T.Optional(T.String()),
    creative_name: T.Optional(T.String()),
    creative_slot: T.Optional(T.String()),
    promotion_id: T.Optional(T.String()),
    promotion_name: T.Optional(T.String()),
    availability: T.Optional(intEnum(6)),
    listing_type: T.Optional(intEnum(7)),
    arrival_date: T.Optional(DateString),
    departure_date: T.Optional(DateString),
    destination_airport: T.Optional(T.String()),
    destination_ids: T.Optional(T.String()),
    body_style: T.Optional(intEnum(11)),
    condition_of_vehicle: T.Optional(intEnum(2)),
    drivetrain: T.Optional(intEnum(7)),
    fuel_type: T.Optional(intEnum(9)),
    transmission: T.Optional(intEnum(4)),
    exterior_color: T.Optional(T.String()),
    make: T.Optional(T.String()),
    model: T.Optional(T.String()),
    vin: T.Optional(T.String()),
    lease_start_date: T.Optional(DateString),
    lease_end_date: T.Optional(DateString),
    ext: T.Optional(Ext),
  },
  { additionalProperties: true },
)

export const EcapiEvent = T.Object(
  {
    data_set_id: T.String({ minLength: 1, maxLength: 255 }),
    id: T.Optional(T.String({ minLength: 1, maxLength: 255 })),
    timestamp: T.Integer({ minimum: 0, maximum: EPOCH_S_MAX, description: 'Unix epoch seconds' }),
    event_type: literalUnion(EVENT_TYPES),
    custom_event: T.Optional(T.String({ minLength: 1, maxLength: 255 })),
    user_data: T.Optional(UserData),
    value: T.Optional(T.Number()),
    currency_code: T.Optional(T.String({ pattern: '^[A-Za-z]{3}$' })),
    source: T.Optional(literalUnion(EVENT_SOURCES)),
    properties: T.Optional(Properties),
    ext: T.Optional(
      T.Object(
        { call: T.Optional(CallExtension), click_ids: T.Optional(ClickIdentity) },
        { additionalProperties: true, description: 'extensions' },
      ),
    ),
  },
  { additionalProperties: true, $id: 'EcapiEvent' },
)
export type EcapiEvent = Static<typeof EcapiEvent>
