/**
 * Summarise a V8 `.cpuprofile` (from `npm run bench -- --profile`) without opening DevTools: the functions
 * with the most self time, and self time grouped by file (node internals, node:sqlite, fastify, closeloop…).
 *
 *   node bench/profile-top.ts .tmp/bench-profiles/CPU.*.cpuprofile [--top 30]
 */
import { readFileSync } from 'node:fs'
import { parseArgs } from 'node:util'

interface CallFrame {
  functionName: string
  url: string
  lineNumber: number
}
interface ProfileNode {
  id: number
  callFrame: CallFrame
  children?: number[]
}
interface Profile {
  nodes: ProfileNode[]
  samples: number[]
  timeDeltas: number[]
}

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: { top: { type: 'string', default: '25' } },
})
const top = Number(values.top)

for (const file of positionals) {
  const p = JSON.parse(readFileSync(file, 'utf8')) as Profile
  const byId = new Map(p.nodes.map((n) => [n.id, n]))
  const selfUs = new Map<number, number>()
  for (const [i, id] of p.samples.entries()) selfUs.set(id, (selfUs.get(id) ?? 0) + (p.timeDeltas[i] ?? 0))
  const total = [...selfUs.values()].reduce((a, b) => a + b, 0)

  const fnSelf = new Map<string, number>()
  const fileSelf = new Map<string, number>()
  for (const [id, us] of selfUs) {
    const f = byId.get(id)!.callFrame
    const where = shortUrl(f.url)
    const key = `${f.functionName || '(anonymous)'}  ${where}${f.url ? `:${f.lineNumber + 1}` : ''}`
    fnSelf.set(key, (fnSelf.get(key) ?? 0) + us)
    fileSelf.set(group(f), (fileSelf.get(group(f)) ?? 0) + us)
  }
  const pct = (us: number) => `${((us / total) * 100).toFixed(1).padStart(5)} %`
  process.stdout.write(`\n${file}: ${(total / 1e6).toFixed(2)} s sampled\n\nby area:\n`)
  for (const [k, us] of [...fileSelf].sort((a, b) => b[1] - a[1]).slice(0, top))
    process.stdout.write(`  ${pct(us)}  ${k}\n`)
  process.stdout.write('\nby function (self time):\n')
  for (const [k, us] of [...fnSelf].sort((a, b) => b[1] - a[1]).slice(0, top))
    process.stdout.write(`  ${pct(us)}  ${k}\n`)

  // inclusive time of closeloop's own functions: which of our stages the samples fall under
  const parent = new Map<number, number>()
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id)
  const incl = new Map<string, number>()
  for (const [id, us] of selfUs) {
    const seen = new Set<string>()
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const f = byId.get(cur)!.callFrame
      if (!f.url.includes('/src/')) continue
      seen.add(`${f.functionName || '(anonymous)'}  ${shortUrl(f.url)}:${f.lineNumber + 1}`)
    }
    for (const k of seen) incl.set(k, (incl.get(k) ?? 0) + us)
  }
  process.stdout.write('\ncloseloop functions (inclusive time):\n')
  for (const [k, us] of [...incl].sort((a, b) => b[1] - a[1]).slice(0, top))
    process.stdout.write(`  ${pct(us)}  ${k}\n`)
}

function shortUrl(url: string): string {
  const i = url.indexOf('/node_modules/')
  if (i >= 0) return url.slice(i + 1)
  const s = url.indexOf('/src/')
  if (s >= 0) return url.slice(s + 1)
  return url.replace(/^file:\/\//, '')
}

/** Coarse buckets: where would a fix go? */
function group(f: CallFrame): string {
  if (!f.url) return f.functionName.startsWith('(') ? f.functionName : `(native) ${f.functionName}`
  const nm = f.url.match(/\/node_modules\/((?:@[^/]+\/)?[^/]+)/)
  if (nm) return `npm:${nm[1]}`
  if (f.url.startsWith('node:')) return f.url
  const s = f.url.indexOf('/src/')
  if (s >= 0)
    return f.url
      .slice(s + 1)
      .split('/')
      .slice(0, 2)
      .join('/')
  return shortUrl(f.url)
}
