#!/usr/bin/env node
/**
 * The closeloop CLI.
 *
 *   closeloop serve --config closeloop.yaml     run the server and delivery workers
 *   closeloop check-config <file>               validate a config; prints every error, exits 1 on any
 *   closeloop migrate --config <file>           apply store migrations and exit
 *   closeloop replay <delivery-id> --config <file>   dead delivery → pending
 *   closeloop send-test --destination <name> [--signal <name>] --config <file>
 *                                               one synthetic conversion in the platform's test mode
 *   closeloop backup <file> --config <file>     an online copy of the SQLite store (PostgreSQL: pg_dump)
 *   closeloop report --config <file> [--from YYYY-MM-DD] [--to YYYY-MM-DD] [--tz <IANA zone>]
 *                    [--format table|json|csv]  reconciliation of whole days, and the match rate now
 */
import { parseArgs } from 'node:util'
import { createApp } from './app.ts'
import { report } from './cli/report.ts'
import { sendTest } from './cli/send-test.ts'
import { openExistingStore } from './cli/store.ts'
import { readConfigFile } from './config/index.ts'
import type { ResolvedConfig } from './config/load.ts'
import { openStore, printableStore } from './store/open.ts'
import { backupSqlite } from './store/sqlite/backup.ts'

const USAGE = `usage: closeloop <serve|check-config|migrate|replay|send-test|report|backup> [--config file] [args]`

function load(path: string): ResolvedConfig {
  const { config, errors, warnings } = readConfigFile(path)
  for (const w of warnings) process.stderr.write(`warning: ${w}\n`)
  if (!config || errors.length) {
    for (const e of errors) process.stderr.write(`error: ${e}\n`)
    process.exit(1)
  }
  return config
}

async function main() {
  const { positionals, values } = parseArgs({
    allowPositionals: true,
    options: {
      config: { type: 'string', short: 'c' },
      port: { type: 'string' },
      destination: { type: 'string', short: 'd' },
      signal: { type: 'string' },
      from: { type: 'string' },
      to: { type: 'string' },
      format: { type: 'string' },
      tz: { type: 'string' },
    },
  })
  const [command, arg] = positionals
  const configPath = values.config ?? (command === 'check-config' ? arg : undefined) ?? 'closeloop.yaml'
  switch (command) {
    case 'check-config': {
      const config = load(configPath)
      const enabled = (r: Record<string, { enabled: boolean; disabledReason?: string }>) =>
        Object.entries(r).map(([n, p]) => `${n}${p.enabled ? '' : ` (disabled: ${p.disabledReason})`}`)
      process.stdout.write(
        `ok: ${configPath}\n  store: ${printableStore(config.store)}\n  sources: ${enabled(config.sources).join(', ') || '(none)'}\n  destinations: ${enabled(config.destinations).join(', ') || '(none)'}\n  routes: ${config.routes.length}\n`,
      )
      return
    }
    case 'serve': {
      const app = await createApp({ config: load(configPath) })
      const port = await app.listen(values.port ? Number(values.port) : undefined)
      app.log.info({ port, store: app.store.kind }, 'closeloop listening')
      let closing = false
      const shutdown = async (signal: string) => {
        if (closing) return
        closing = true
        app.log.info({ signal }, 'shutting down: finishing in-flight deliveries')
        await app.close()
        process.exit(0)
      }
      process.on('SIGTERM', () => void shutdown('SIGTERM'))
      process.on('SIGINT', () => void shutdown('SIGINT'))
      return
    }
    case 'migrate': {
      const config = load(configPath)
      const store = await openStore(config.store ?? { sqlite: './data/closeloop.db' })
      await store.migrate()
      await store.close()
      process.stdout.write(`migrated ${store.kind} store\n`)
      return
    }
    case 'replay': {
      const config = load(configPath)
      if (!arg) throw new Error('replay needs a delivery id')
      const store = await openExistingStore(config)
      const d = await store.replay(arg, Date.now())
      await store.close()
      if (!d) {
        process.stderr.write(`no delivery ${arg}\n`)
        process.exit(1)
      }
      process.stdout.write(`${d.id} → ${d.status} (a running server picks it up on its next sweep)\n`)
      return
    }
    case 'send-test': {
      const config = load(configPath)
      if (!values.destination) throw new Error('send-test needs --destination <name>')
      const outcome = await sendTest(config, values.destination, values.signal)
      const x = outcome.exchange
      process.stdout.write(
        [
          `outcome: ${outcome.kind}${outcome.code ? ` (${outcome.code})` : ''}${outcome.message ? `: ${outcome.message}` : ''}`,
          x ? `request: ${x.method} ${x.url}` : 'request: (not sent)',
          ...(x ? Object.entries(x.headers).map(([k, v]) => `  ${k}: ${v}`) : []),
          x?.body ? `body: ${x.body}` : '',
          x ? `response: ${x.status ?? x.error} (${Math.round(x.latencyMs)} ms)\n${x.response ?? ''}` : '',
        ]
          .filter(Boolean)
          .join('\n') + '\n',
      )
      if (outcome.kind !== 'delivered') process.exit(1)
      return
    }
    case 'backup': {
      const store = load(configPath).store ?? { sqlite: './data/closeloop.db' }
      if (!arg) throw new Error('backup needs a target file: closeloop backup <file> --config <file>')
      if (!('sqlite' in store))
        throw new Error(
          'the store is PostgreSQL: back it up with pg_dump or your provider (docs/operations.md)',
        )
      const { bytes, ms } = backupSqlite(store.sqlite, arg)
      process.stdout.write(
        `${store.sqlite} → ${arg}: ${(bytes / 1_048_576).toFixed(1)} MiB in ${Math.round(ms)} ms\n`,
      )
      return
    }
    case 'report': {
      process.stdout.write(await report(load(configPath), values))
      return
    }
    default:
      process.stderr.write(`${USAGE}\n`)
      process.exit(2)
  }
}

main().catch((err) => {
  process.stderr.write(`error: ${err instanceof Error ? err.message : String(err)}\n`)
  process.exit(1)
})
