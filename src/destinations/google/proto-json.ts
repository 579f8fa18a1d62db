/**
 * A strict proto3-JSON checker over the JSON descriptors that Google's own npm packages ship
 * (`@google-ads/datamanager/build/protos/protos.json`, `google-ads-node/build/protos/protos.json`).
 *
 * The mock servers use it as a test oracle: every body a destination sends is checked against the official
 * request message, failing on unknown fields, wrong types, unknown enum names, two members of a oneof,
 * `OUTPUT_ONLY` fields, and missing `REQUIRED` fields (`google.api.field_behavior`). protobufjs's own
 * `verify` ignores unknown fields and field behaviors, which are exactly the mistakes worth catching.
 * It also reads each RPC's `google.api.http` rule, so a mock routes by the same URL template Google does.
 *
 * @example
 *   const dm = loadProtoRoot('@google-ads/datamanager')
 *   checkMessage(dm, 'google.ads.datamanager.v1.IngestEventsRequest', body) // [] or ['events[0].eventTimestamp: required']
 */
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'

interface FieldDef {
  type: string
  id: number
  rule?: string
  keyType?: string
  options?: Record<string, unknown>
}
interface TypeDef {
  fields?: Record<string, FieldDef>
  oneofs?: Record<string, { oneof: string[] }>
  values?: Record<string, number>
  methods?: Record<string, MethodDef>
  nested?: Record<string, TypeDef>
}
interface MethodDef {
  requestType: string
  responseType: string
  options?: Record<string, string>
}

export interface ProtoRoot {
  nested: Record<string, TypeDef>
}

const requireHere = createRequire(import.meta.url)

/**
 * The bundled JSON descriptor of an installed package (devDependency; test and mock use only).
 *
 * @example loadProtoRoot('google-ads-node')
 */
export function loadProtoRoot(pkg: '@google-ads/datamanager' | 'google-ads-node'): ProtoRoot {
  const path = requireHere.resolve(`${pkg}/build/protos/protos.json`)
  return JSON.parse(readFileSync(path, 'utf8')) as ProtoRoot
}

/** Follow a dotted path from the root. */
function at(root: ProtoRoot, path: string[]): TypeDef | undefined {
  let node: TypeDef | undefined = { nested: root.nested }
  for (const p of path) node = node?.nested?.[p]
  return node
}

/** protobuf name resolution: look the reference up in the scope, then in each enclosing scope. */
function resolve(
  root: ProtoRoot,
  scope: string[],
  ref: string,
): { def: TypeDef; path: string[] } | undefined {
  const parts = ref.replace(/^\./, '').split('.')
  for (let i = scope.length; i >= 0; i--) {
    const path = [...scope.slice(0, i), ...parts]
    const def = at(root, path)
    if (def) return { def, path }
  }
  return undefined
}

/** proto3 JSON field name: lowerCamelCase of the proto field name (idempotent on camelCase). */
export const jsonName = (protoName: string): string =>
  protoName.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase())

const behaviors = (f: FieldDef): string[] => {
  const b = f.options?.['(google.api.field_behavior)']
  return Array.isArray(b) ? (b as string[]) : typeof b === 'string' ? [b] : []
}

const INT32 = new Set(['int32', 'sint32', 'sfixed32'])
const UINT32 = new Set(['uint32', 'fixed32'])
const INT64 = new Set(['int64', 'sint64', 'sfixed64', 'uint64', 'fixed64'])
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/
const WRAPPERS: Record<string, string> = {
  'google.protobuf.DoubleValue': 'double',
  'google.protobuf.FloatValue': 'float',
  'google.protobuf.Int64Value': 'int64',
  'google.protobuf.UInt64Value': 'uint64',
  'google.protobuf.Int32Value': 'int32',
  'google.protobuf.UInt32Value': 'uint32',
  'google.protobuf.BoolValue': 'bool',
  'google.protobuf.StringValue': 'string',
  'google.protobuf.BytesValue': 'bytes',
}

function checkScalar(type: string, v: unknown): string | undefined {
  if (type === 'string') return typeof v === 'string' ? undefined : 'expected a string'
  if (type === 'bool') return typeof v === 'boolean' ? undefined : 'expected a boolean'
  if (type === 'double' || type === 'float')
    return typeof v === 'number' || v === 'NaN' || v === 'Infinity' || v === '-Infinity'
      ? undefined
      : 'expected a number'
  if (type === 'bytes')
    return typeof v === 'string' && /^[A-Za-z0-9+/_-]*={0,2}$/.test(v) ? undefined : 'expected base64 bytes'
  const isInt = (typeof v === 'number' && Number.isInteger(v)) || (typeof v === 'string' && /^-?\d+$/.test(v))
  if (!isInt) return `expected an integer (${type})`
  const n = Number(v)
  if (INT32.has(type)) return n >= -(2 ** 31) && n < 2 ** 31 ? undefined : `out of ${type} range`
  if (UINT32.has(type)) return n >= 0 && n < 2 ** 32 ? undefined : `out of ${type} range`
  if (INT64.has(type))
    return type.startsWith('u') || type === 'fixed64' ? (n >= 0 ? undefined : 'negative') : undefined
  return `unknown scalar type ${type}`
}

const SCALARS = new Set(['string', 'bool', 'double', 'float', 'bytes', ...INT32, ...UINT32, ...INT64])

function checkValue(
  root: ProtoRoot,
  scope: string[],
  type: string,
  v: unknown,
  path: string,
  errors: string[],
): void {
  if (v === null) {
    errors.push(`${path}: null is not sent by closeloop (omit the field)`)
    return
  }
  if (SCALARS.has(type)) {
    const err = checkScalar(type, v)
    if (err) errors.push(`${path}: ${err}`)
    return
  }
  const found = resolve(root, scope, type)
  const fq = found?.path.join('.') ?? type
  if (fq === 'google.protobuf.Timestamp') {
    if (typeof v !== 'string' || !RFC3339.test(v) || Number.isNaN(Date.parse(v)))
      errors.push(`${path}: expected an RFC 3339 timestamp`)
    return
  }
  if (fq === 'google.protobuf.Duration') {
    if (typeof v !== 'string' || !/^-?\d+(\.\d{1,9})?s$/.test(v))
      errors.push(`${path}: expected a duration like "1.5s"`)
    return
  }
  if (fq === 'google.protobuf.FieldMask') {
    if (typeof v !== 'string') errors.push(`${path}: expected a field mask string`)
    return
  }
  if (fq in WRAPPERS) {
    const err = checkScalar(WRAPPERS[fq], v)
    if (err) errors.push(`${path}: ${err}`)
    return
  }
  if (fq === 'google.protobuf.Any') {
    if (
      typeof v !== 'object' ||
      Array.isArray(v) ||
      typeof (v as Record<string, unknown>)['@type'] !== 'string'
    )
      errors.push(`${path}: expected an Any with @type`)
    return
  }
  if (fq.startsWith('google.protobuf.') && /Struct|Value|ListValue/.test(fq)) return
  if (!found) {
    errors.push(`${path}: unresolvable type ${type}`)
    return
  }
  if (found.def.values) {
    const ok =
      (typeof v === 'string' && v in found.def.values) ||
      (typeof v === 'number' && Object.values(found.def.values).includes(v))
    if (!ok) errors.push(`${path}: ${JSON.stringify(v)} is not a value of ${fq}`)
    return
  }
  checkObject(root, found.path, found.def, v, path, errors, [])
}

function checkObject(
  root: ProtoRoot,
  scope: string[],
  def: TypeDef,
  v: unknown,
  path: string,
  errors: string[],
  pathBound: string[],
): void {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    errors.push(`${path || '(body)'}: expected an object`)
    return
  }
  const obj = v as Record<string, unknown>
  const fields = def.fields ?? {}
  const byJson = new Map(Object.entries(fields).map(([name, f]) => [jsonName(name), { name, f }]))
  const prefix = path ? `${path}.` : ''
  for (const [key, value] of Object.entries(obj)) {
    const entry = byJson.get(key)
    if (!entry) {
      errors.push(`${prefix}${key}: unknown field of ${scope.join('.')}`)
      continue
    }
    const { name, f } = entry
    if (pathBound.includes(name))
      errors.push(`${prefix}${key}: bound in the URL path, not accepted in the body`)
    if (behaviors(f).includes('OUTPUT_ONLY')) errors.push(`${prefix}${key}: output only`)
    if (f.keyType) {
      if (typeof value !== 'object' || value === null || Array.isArray(value))
        errors.push(`${prefix}${key}: expected a map`)
      else
        for (const [k, mv] of Object.entries(value))
          checkValue(root, scope, f.type, mv, `${prefix}${key}[${k}]`, errors)
    } else if (f.rule === 'repeated') {
      if (!Array.isArray(value)) errors.push(`${prefix}${key}: expected an array`)
      else
        value.forEach((item, i) => {
          checkValue(root, scope, f.type, item, `${prefix}${key}[${i}]`, errors)
        })
    } else checkValue(root, scope, f.type, value, `${prefix}${key}`, errors)
  }
  for (const [name, f] of Object.entries(fields)) {
    if (!behaviors(f).includes('REQUIRED') || pathBound.includes(name)) continue
    const value = obj[jsonName(name)]
    const missing = value === undefined || value === '' || (Array.isArray(value) && value.length === 0)
    if (missing) errors.push(`${prefix}${jsonName(name)}: required`)
  }
  for (const [oneof, { oneof: members }] of Object.entries(def.oneofs ?? {})) {
    const set = members.filter((m) => obj[jsonName(m)] !== undefined)
    if (set.length > 1)
      errors.push(`${path || '(body)'}: oneof ${oneof} has ${set.map(jsonName).join(' and ')} set`)
  }
}

/**
 * Every proto3-JSON error in `value` as an instance of the fully-qualified message `typeName`.
 *
 * @example checkMessage(root, 'google.ads.datamanager.v1.Consent', { adUserData: 'GRANTED' })
 *   // ['adUserData: "GRANTED" is not a value of google.ads.datamanager.v1.ConsentStatus']
 */
export function checkMessage(
  root: ProtoRoot,
  typeName: string,
  value: unknown,
  pathBound: string[] = [],
): string[] {
  const path = typeName.split('.')
  const def = at(root, path)
  if (!def?.fields) return [`unknown message ${typeName}`]
  const errors: string[] = []
  checkObject(root, path, def, value, '', errors, pathBound)
  return errors
}

/** One RPC's REST binding, read from its `google.api.http` option. */
export interface RestRoute {
  rpc: string
  httpMethod: string
  /** Matches the request path; named groups are the path-bound fields. */
  pattern: RegExp
  /** Proto names of fields bound in the path (`customer_id`). */
  pathBound: string[]
  requestType: string
  responseType: string
}

/**
 * The REST routes of a service, e.g. `POST /v24/customers/{customer_id=*}:uploadClickConversions`.
 *
 * @example restRoutes(ads, 'google.ads.googleads.v24.services.ConversionUploadService')[0].rpc // 'UploadClickConversions'
 */
export function restRoutes(root: ProtoRoot, service: string): RestRoute[] {
  const scope = service.split('.')
  const def = at(root, scope)
  const routes: RestRoute[] = []
  for (const [rpc, m] of Object.entries(def?.methods ?? {})) {
    const opt = m.options ?? {}
    const verb = ['post', 'get', 'put', 'patch', 'delete'].find((k) => opt[`(google.api.http).${k}`])
    if (!verb) continue
    const template = opt[`(google.api.http).${verb}`]
    const pathBound: string[] = []
    const source = template
      .split(/(\{[^}]+\})/)
      .map((part) => {
        const v = /^\{([a-z_0-9.]+)(?:=[^}]*)?\}$/.exec(part)
        if (!v) return part.replace(/[.*+?^$()|[\]\\]/g, '\\$&')
        pathBound.push(v[1])
        return `(?<${v[1]}>[^/:]+)`
      })
      .join('')
    const parent = scope.slice(0, -1)
    const fq = (t: string) => resolve(root, parent, t)?.path.join('.') ?? t
    routes.push({
      rpc,
      httpMethod: verb.toUpperCase(),
      pattern: new RegExp(`^${source}$`),
      pathBound,
      requestType: fq(m.requestType),
      responseType: fq(m.responseType),
    })
  }
  return routes
}

/** Names of an enum's values, e.g. every `ConversionUploadError`. @example enumValues(ads, 'google.rpc.Code') */
export function enumValues(root: ProtoRoot, enumName: string): string[] {
  return Object.keys(at(root, enumName.split('.'))?.values ?? {})
}
