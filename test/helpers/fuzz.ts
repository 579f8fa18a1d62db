/**
 * Seeded mutation of valid inputs, for the robustness test (test/e2e/fuzz.test.ts). Each mutation replaces,
 * removes or adds one node of a JSON value with something a careless or hostile client might send: wrong
 * types, boundary numbers, huge or odd strings, deep nesting, prototype keys. The same seed gives the same
 * inputs, so a failure names the seed that reproduces it.
 *
 * @example
 *   const rand = seeded(42)
 *   const body = mutate(rand, { id: 'e1', value: 10 }) // e.g. { id: 'e1', value: 1e308 }
 */

/** mulberry32: small, fast, and good enough to pick mutations. */
export function seeded(seed: number) {
  let a = seed >>> 0
  return function next(): number {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

export type Rand = () => number

export const pick = <T>(rand: Rand, xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]

/** Nested objects `depth` deep: recursion over client input must not overflow the stack. */
export function deep(depth: number): unknown {
  let v: unknown = 'bottom'
  for (let i = 0; i < depth; i++) v = { a: v }
  return v
}

/** Values that have broken servers: boundaries, non-BMP and unpaired surrogates, markup, injection, macros. */
const ODD: readonly (() => unknown)[] = [
  () => null,
  () => true,
  () => 0,
  () => -1,
  () => 0.5,
  () => -0.000001,
  () => 2 ** 31,
  () => 2 ** 53 + 2,
  () => 1e21,
  () => 1e300,
  () => -1e300,
  () => Number.MAX_SAFE_INTEGER,
  () => 99999999999,
  () => '',
  () => ' ',
  () => '0',
  () => '-1',
  () => 'NaN',
  () => 'Infinity',
  () => '1e999',
  () => 'null',
  () => 'true',
  () => '\u0000',
  () => 'a\u0000b',
  () => '\ud800',
  () => 'x\udfffy',
  () => '🙂'.repeat(40),
  () => '\u202eevil',
  () => 'é'.normalize('NFD'),
  () => 'a'.repeat(300),
  () => 'b'.repeat(5000),
  () => '<script>alert(1)</script>',
  () => "'; DROP TABLE events; --",
  () => '{signal}{value}{event_id}',
  () => '%00%ff%',
  () => '../../etc/passwd',
  () => 'http://169.254.169.254/latest/meta-data/',
  () => '+1 (212) 555-0000',
  () => 'JOHN.DOE@GMAIL.COM ',
  () => '2025-13-45T99:99:99Z',
  () => 'Tue, 31 Feb 2025 25:61:61 +0000',
  () => [],
  () => [null],
  () => ['x', 1, { y: [] }],
  () => ({}),
  () => ({ __proto__: 'x' }),
  () => JSON.parse('{"__proto__": {"polluted": true}}'),
  () => ({ constructor: { prototype: { polluted: true } } }),
  () => ({ toString: 1, valueOf: 'x', hasOwnProperty: null }),
  () => deep(64),
  () => deep(3000),
  () => Array.from({ length: 2000 }, (_, i) => i),
]

const KEYS = [
  '__proto__',
  'constructor',
  'prototype',
  'toString',
  'hasOwnProperty',
  '',
  ' ',
  'ext',
  'a.b',
  '$ref',
]

type Path = (string | number)[]

/** Every path to a node (the root is `[]`), objects and arrays alike. */
function paths(v: unknown, prefix: Path = [], out: Path[] = [], limit = 400): Path[] {
  out.push(prefix)
  if (out.length >= limit || v === null || typeof v !== 'object') return out
  const entries = Array.isArray(v) ? v.map((x, i) => [i, x] as const) : Object.entries(v)
  for (const [k, child] of entries) paths(child, [...prefix, k], out, limit)
  return out
}

function getAt(v: unknown, path: Path): unknown {
  let cur = v
  for (const k of path) cur = (cur as Record<string | number, unknown>)[k]
  return cur
}

/** Defines rather than assigns, so a `__proto__` key becomes an own property as JSON.parse would make it. */
function setOwn(target: object, key: string | number, value: unknown) {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true })
}

/**
 * A copy of `value` with 1–3 mutations. Strings keep their type now and then (a near miss: too long, a
 * lone surrogate), numbers become strings and back, keys vanish or appear.
 */
export function mutate(rand: Rand, value: unknown): unknown {
  let root = structuredClone(value)
  const n = 1 + Math.floor(rand() * 3)
  for (let i = 0; i < n; i++) {
    const all = paths(root)
    const path = pick(rand, all)
    const node = getAt(root, path)
    const op = rand()
    const odd = pick(rand, ODD)()
    if (op < 0.15 && node !== null && typeof node === 'object' && !Array.isArray(node)) {
      setOwn(node, pick(rand, KEYS), odd)
      continue
    }
    let next: unknown
    if (op < 0.3 && typeof node === 'number') next = rand() < 0.5 ? String(node) : -node
    else if (op < 0.4 && typeof node === 'string') next = rand() < 0.5 ? Number(node) || node.length : [node]
    else if (op < 0.5 && typeof node === 'string')
      next = node + pick(rand, ['\ud800', ' ', '\u0000', 'x'.repeat(600)])
    else next = odd
    if (path.length === 0) {
      root = next
      continue
    }
    const parent = getAt(root, path.slice(0, -1)) as Record<string | number, unknown>
    const key = path[path.length - 1]
    if (op > 0.9 && !Array.isArray(parent)) delete parent[key]
    else setOwn(parent, key, next)
  }
  return root
}

/** Text-level damage JSON cannot express: truncation, stray bytes, a number too large for a double. */
export function mangleText(rand: Rand, text: string): string {
  switch (Math.floor(rand() * 6)) {
    case 0:
      return text.slice(0, Math.floor(rand() * text.length))
    case 1:
      return text.replace(/:\s*(-?\d+(\.\d+)?)/, ': 1e999')
    case 2:
      return `${text}${text}`
    case 3:
      return text.replace(/"/, "'")
    case 4:
      return `[${text}]`
    default:
      return text.replace(/,/, ',,')
  }
}
