/**
 * Crash safety: a child closeloop process takes a stream of events, is SIGKILLed mid-stream, and restarts on
 * the same SQLite file. Every acknowledged event must be delivered; a delivery re-sent because the process died
 * mid-attempt carries the same idempotency key, and such re-sends are at most the attempts in flight at the kill
 * (the destination's concurrency). The figure is printed as a test diagnostic.
 */
import assert from 'node:assert/strict'
import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { eventually } from '../helpers/app.ts'
import { startReceiver } from '../helpers/receiver.ts'

const KEY = 'crash-test-key-123'
/** Concurrent postback requests: the bound on attempts that can be in flight at the kill. */
const CONCURRENCY = 4

async function freePort(): Promise<number> {
  const srv = createServer()
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r))
  const port = (srv.address() as { port: number }).port
  await new Promise((r) => srv.close(r))
  return port
}

function startChild(configPath: string): ChildProcess {
  const child = spawn(process.execPath, ['src/main.ts', 'serve', '--config', configPath], {
    stdio: ['ignore', 'ignore', 'pipe'],
  })
  child.stderr?.resume() // drain, so a chatty child never blocks on a full pipe
  return child
}

const exited = (child: ChildProcess) =>
  child.exitCode !== null || child.signalCode !== null
    ? Promise.resolve()
    : new Promise<void>((r) => child.once('exit', () => r()))

async function waitReady(url: string) {
  // generous: on a loaded 2-core CI machine a cold start of the child can take several seconds
  await eventually(async () => (await fetch(`${url}/healthz`)).ok, 30_000, 'child ready')
}

test('SIGKILL mid-stream: every acknowledged event is delivered, re-sends are bounded by in-flight attempts', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'closeloop-crash-'))
  const receiver = await startReceiver()
  // a slow receiver keeps attempts in flight when the kill lands
  receiver.setDefault({ status: 200, body: 'ok', delayMs: 15 })
  const port = await freePort()
  const url = `http://127.0.0.1:${port}`
  const configPath = join(dir, 'closeloop.yaml')
  writeFileSync(
    configPath,
    `
server: { port: ${port}, host: 127.0.0.1 }
store: { sqlite: ${join(dir, 'crash.db')} }
api_keys: [{ name: t, key: ${KEY} }]
log: { level: silent }
delivery: { lease_s: 8, sweep_interval_ms: 100, retry_schedule_s: [0.2, 0.5, 1] }
destinations:
  pb: { type: postback, url: "${receiver.url}/pb?sig={event_id}", allow_private: true, concurrency: ${CONCURRENCY}, timeout_ms: 5000 }
routes: [ { signals: ["*"], to: [pb] } ]
`,
  )
  let child = startChild(configPath)
  try {
    await waitReady(url)
    const acked = new Map<string, string>() // event id → signal id
    let sent = 0
    let killed = false
    const killAfter = 400
    async function client(n: number) {
      for (let i = 0; i < 10_000 && !killed; i++) {
        const id = `crash-${n}-${i}`
        sent++
        try {
          const res = await fetch(`${url}/v1/events`, {
            method: 'POST',
            headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
            body: JSON.stringify({
              data_set_id: 'crash',
              id,
              timestamp: Math.floor(Date.now() / 1000),
              event_type: 'contact',
            }),
          })
          if (res.status !== 200) continue
          const body = (await res.json()) as { signals: string[] }
          acked.set(id, body.signals[0])
          if (acked.size >= killAfter && !killed) {
            killed = true
            child.kill('SIGKILL')
          }
        } catch {
          // connection refused or reset by the kill: not acknowledged, so not owed
          return
        }
      }
    }
    await Promise.all(Array.from({ length: 8 }, (_, n) => client(n)))
    assert.ok(killed, 'the child was killed mid-stream')
    await exited(child)
    const deliveredBeforeRestart = new Set(
      receiver.received.map((r) => new URL(r.url, 'http://x').searchParams.get('sig')),
    )

    child = startChild(configPath)
    await waitReady(url)
    const owed = new Set(acked.values())
    await eventually(
      () => {
        const got = new Set(receiver.received.map((r) => new URL(r.url, 'http://x').searchParams.get('sig')))
        return [...owed].every((s) => got.has(s))
      },
      40_000,
      'every acknowledged event delivered',
    )
    const counts = new Map<string, number>()
    for (const r of receiver.received) {
      const sig = new URL(r.url, 'http://x').searchParams.get('sig')!
      counts.set(sig, (counts.get(sig) ?? 0) + 1)
    }
    const resent = [...counts.values()].filter((c) => c > 1).length
    t.diagnostic(
      `sent ${sent}, acknowledged ${acked.size}, delivered before kill ${deliveredBeforeRestart.size}, ` +
        `re-sent after restart with the same idempotency key: ${resent} (bound: ${CONCURRENCY} in flight)`,
    )
    assert.ok(resent <= CONCURRENCY, `re-sends ${resent} exceed the ${CONCURRENCY} attempts in flight`)
    for (const sig of owed) assert.ok(counts.has(sig))
  } finally {
    child.kill('SIGKILL')
    await receiver.close()
    rmSync(dir, { recursive: true, force: true })
  }
})
