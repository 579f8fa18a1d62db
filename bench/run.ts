/**
 * `npm run bench`: closeloop's benchmark harness. Runs each scenario in `scenarios/index.ts` against real
 * child processes on loopback, prints a table on stdout (progress on stderr) and writes
 * `bench/results/<ISO timestamp>.json` and `bench/results/latest.json`. docs/performance.md explains it.
 *
 *   npm run bench                          full run (~8 minutes on 2 cores; PostgreSQL scenarios need a server)
 *   npm run bench -- --quick               short durations, a smoke check (~1–2 minutes)
 *   npm run bench -- --only ingest-single  one scenario (repeatable, or comma-separated)
 *   npm run bench -- --profile             closeloop children run with --cpu-prof (.tmp/bench-profiles/, git-ignored)
 *   npm run bench -- --list                scenarios, including planned ones
 *   BENCH_SERVER_ENTRY=x.ts npm run bench  run x.ts (same `serve --config` CLI) instead of src/main.ts
 */
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { installCleanup } from './lib/children.ts'
import { machine, REPO, type RunReport, renderScenario, stallMeter, writeResults } from './lib/report.ts'
import { PLANNED, SCENARIOS } from './scenarios/index.ts'
import type { Timing } from './scenarios/types.ts'

const FULL: Timing = {
  // 3 s: long enough for V8 to optimise the hot path and SQLite's cache to fill, measured to settle within 2 s
  warmupMs: 3_000,
  // 10 s per round and 3 rounds: the brief's minimum; rounds differ by a few % here, so the median is stable
  roundMs: 10_000,
  rounds: 3,
  latencyMs: 10_000,
}
/** `.tmp/` is git-ignored; profiles are large and belong to one machine and moment. */
const PROFILE_DIR = join(REPO, '.tmp', 'bench-profiles')
const QUICK: Timing = { warmupMs: 500, roundMs: 1_000, rounds: 3, latencyMs: 2_000 }

async function main() {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      only: { type: 'string', multiple: true },
      profile: { type: 'boolean', default: false },
      list: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  })
  if (values.help) {
    process.stdout.write(
      'usage: npm run bench -- [--quick] [--only <scenario>[,<scenario>]] [--profile] [--list]\n',
    )
    return
  }
  if (values.list) {
    for (const s of SCENARIOS) process.stdout.write(`${s.name.padEnd(20)} ${s.title}\n`)
    for (const p of PLANNED) process.stdout.write(`${p.name.padEnd(20)} (planned) ${p.what}\n`)
    return
  }
  const only = values.only?.flatMap((o) => o.split(',')).map((o) => o.trim())
  const unknown = only?.filter((o) => !SCENARIOS.some((s) => s.name === o))
  if (unknown?.length) {
    process.stderr.write(
      `unknown scenario(s): ${unknown.join(', ')} (have: ${SCENARIOS.map((s) => s.name).join(', ')})\n`,
    )
    process.exit(2)
  }

  installCleanup()
  const timing = values.quick ? QUICK : FULL
  const serverFlags = values.profile ? ['--cpu-prof', '--cpu-prof-dir', PROFILE_DIR] : []
  const log = (line: string) => process.stderr.write(`${line}\n`)
  const report: RunReport = {
    startedAt: new Date().toISOString(),
    finishedAt: '',
    quick: values.quick,
    machine: machine(),
    timing,
    scenarios: [],
  }
  const m = report.machine
  process.stdout.write(
    `closeloop bench — ${m.cpus} × ${m.cpuModel}, ${m.memGiB} GiB, node ${m.node}, ` +
      `commit ${m.commit.slice(0, 10)}${m.dirty ? ' (+ uncommitted changes)' : ''}, load ${m.loadavg1}` +
      `${m.serverEntry === 'src/main.ts' ? '' : `, server entry ${m.serverEntry}`}` +
      `${values.quick ? ', QUICK (numbers are a smoke check only)' : ''}\n\n`,
  )

  let failed = 0
  for (const s of SCENARIOS.filter((x) => !only || only.includes(x.name))) {
    const reason = s.unavailable?.()
    if (reason) {
      report.scenarios.push({ name: s.name, title: s.title, status: 'unavailable', reason })
      process.stdout.write(`## ${s.title}\nskipped: ${reason}\n\n`)
      continue
    }
    log(`${s.name}: ${s.describe}`)
    const stall = stallMeter()
    const t0 = Date.now()
    try {
      const r = await s.run({ timing, quick: values.quick, serverFlags, log })
      const cpuStallPct = stall()
      const seconds = Math.round((Date.now() - t0) / 100) / 10
      report.scenarios.push({
        name: s.name,
        title: s.title,
        describe: s.describe,
        status: 'ok',
        cpuStallPct,
        seconds,
        ...r,
      })
      process.stdout.write(`${renderScenario(s, r, cpuStallPct)}\n`)
    } catch (err) {
      failed++
      const reason = err instanceof Error ? err.message : String(err)
      report.scenarios.push({ name: s.name, title: s.title, status: 'failed', reason })
      process.stdout.write(`## ${s.title}\nFAILED: ${reason}\n\n`)
    }
  }
  report.finishedAt = new Date().toISOString()
  const file = writeResults(report)
  process.stdout.write(`results: ${file} (and bench/results/latest.json)\n`)
  if (failed) process.exitCode = 1
}

await main()
