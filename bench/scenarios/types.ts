/**
 * The scenario contract. A scenario is one self-contained measurement: it starts what it needs (closeloop
 * child, baseline, receiver), drives load, stops everything it started (also on error) and returns rows for
 * the table plus raw data for the JSON file. Add one by writing a module and one line in `index.ts`.
 */

/** Durations and repetitions, shared by every scenario; `--quick` swaps in short ones. */
export interface Timing {
  /** Load before measuring (JIT, SQLite page cache, keep-alive sockets); never counted. */
  warmupMs: number
  /** One measured round of a throughput scenario. */
  roundMs: number
  /** Rounds per throughput measurement; the median is reported. */
  rounds: number
  /** One measured window of an open-loop latency scenario. */
  latencyMs: number
}

export interface ScenarioContext {
  timing: Timing
  quick: boolean
  /** Node flags for closeloop children, e.g. `--cpu-prof` (see `--profile`). */
  serverFlags: string[]
  /** Progress lines (stderr), so stdout stays the result table. */
  log(line: string): void
}

/** A goal the design sets, checked against the measured value. */
export interface Goal {
  what: string
  target: string
  actual: string
  met: boolean
}

/** One table row: a label and named cells (numbers are printed with units from `columns`). */
export interface Row {
  label: string
  cells: Record<string, number | string>
}

export interface ScenarioResult {
  /** Column key → header text, in display order. */
  columns: Record<string, string>
  rows: Row[]
  goals: Goal[]
  notes: string[]
  /** Everything else worth keeping in the JSON file (per-round numbers, settings). */
  data: Record<string, unknown>
}

export interface Scenario {
  /** Short name used by `--only`. */
  name: string
  title: string
  /** One paragraph: what is measured and how. */
  describe: string
  /** A reason this scenario cannot run here (e.g. a source not built yet); undefined = runnable. */
  unavailable?(): string | undefined
  run(ctx: ScenarioContext): Promise<ScenarioResult>
}
