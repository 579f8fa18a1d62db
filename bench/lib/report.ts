/**
 * Reporting: machine facts, the stdout table and the JSON files in `bench/results/`.
 */
import { execFileSync } from 'node:child_process'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { cpus, freemem, loadavg, platform, release, totalmem } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { fileURLToPath } from 'node:url'
import type { Scenario, ScenarioResult } from '../scenarios/types.ts'
import { SERVER_ENTRY } from './closeloop.ts'

export const REPO = fileURLToPath(new URL('../../', import.meta.url))
export const RESULTS_DIR = join(REPO, 'bench', 'results')

/**
 * Linux pressure-stall counter: total µs in which at least one runnable task waited for a CPU. The share of
 * a time window spent stalled says how contended the machine was (0 % = quiet; other tenants push it up).
 */
export function cpuStallMicros(): number | undefined {
  try {
    const m = readFileSync('/proc/pressure/cpu', 'utf8').match(/^some .*total=(\d+)/m)
    return m ? Number(m[1]) : undefined
  } catch {
    return undefined
  }
}

/** Measures CPU stall share over a window: call the returned function at its end. */
export function stallMeter(): () => number | undefined {
  const t0 = performance.now()
  const s0 = cpuStallMicros()
  return () => {
    const s1 = cpuStallMicros()
    if (s0 === undefined || s1 === undefined) return undefined
    return Math.round(((s1 - s0) / 1000 / (performance.now() - t0)) * 100)
  }
}

export interface Machine {
  cpus: number
  cpuModel: string
  memGiB: number
  freeMemGiB: number
  /** 1-minute load average at start: a hint of how noisy the machine was. */
  loadavg1: number
  os: string
  node: string
  commit: string
  /** Uncommitted changes in the tree at run time (the commit alone does not describe the code measured). */
  dirty: boolean
  /** The script run as closeloop (src/main.ts unless BENCH_SERVER_ENTRY is set). */
  serverEntry: string
}

function git(args: string[]): string {
  try {
    return execFileSync('git', args, {
      cwd: REPO,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim()
  } catch {
    return ''
  }
}

export function machine(): Machine {
  const c = cpus()
  return {
    cpus: c.length,
    cpuModel: c[0]?.model ?? 'unknown',
    memGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    freeMemGiB: Math.round((freemem() / 2 ** 30) * 10) / 10,
    loadavg1: Math.round(loadavg()[0] * 100) / 100,
    os: `${platform()} ${release()}`,
    node: process.version,
    commit: git(['rev-parse', 'HEAD']) || 'unknown',
    dirty: git(['status', '--porcelain', '--', 'src', 'bench']) !== '',
    serverEntry: SERVER_ENTRY,
  }
}

/** A plain-text table with right-aligned numbers. */
export function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)))
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i])))
      .join('  ')
      .trimEnd()
  return [line(headers), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n')
}

export function renderScenario(s: Scenario, r: ScenarioResult, stallPct?: number): string {
  const keys = Object.keys(r.columns)
  const out = [`## ${s.title}`, '']
  out.push(
    table(
      ['', ...keys.map((k) => r.columns[k])],
      r.rows.map((row) => [row.label, ...keys.map((k) => String(row.cells[k] ?? ''))]),
    ),
  )
  for (const g of r.goals)
    out.push(`goal: ${g.what} ${g.target} — measured ${g.actual} — ${g.met ? 'MET' : 'MISSED'}`)
  for (const n of r.notes) out.push(`note: ${n}`)
  if (stallPct !== undefined)
    out.push(`machine: some task waited for a CPU during ${stallPct} % of this scenario (PSI; 0 = quiet)`)
  return `${out.join('\n')}\n`
}

export interface RunReport {
  startedAt: string
  finishedAt: string
  quick: boolean
  machine: Machine
  timing: unknown
  scenarios: Array<
    | ({
        name: string
        title: string
        describe: string
        status: 'ok'
        /** % of the scenario's wall time in which some task on the machine waited for a CPU (PSI). */
        cpuStallPct?: number
        seconds: number
      } & ScenarioResult)
    | { name: string; title: string; status: 'failed' | 'unavailable'; reason: string }
  >
}

/** Writes `<ISO timestamp>.json` and `latest.json`; returns the timestamped path. */
export function writeResults(report: RunReport): string {
  mkdirSync(RESULTS_DIR, { recursive: true })
  // colons are not allowed in file names on every OS
  const file = join(RESULTS_DIR, `${report.startedAt.replace(/:/g, '-')}.json`)
  const json = `${JSON.stringify(report, null, 2)}\n`
  writeFileSync(file, json)
  writeFileSync(join(RESULTS_DIR, 'latest.json'), json)
  return file
}
