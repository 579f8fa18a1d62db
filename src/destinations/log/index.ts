/**
 * `log`: a dry run. Records the exact payload it would send (the signal as a webhook would carry it) in
 * the attempt log, visible in the trace, and always succeeds. The example config routes everything here so
 * the pipeline shows its work from the first minute, before any credentials exist.
 */
import { Type as T } from '@sinclair/typebox'
import type { DestinationDefinition } from '../contract.ts'
import { publicSignal } from '../view.ts'

const LogConfig = T.Object({ include_pii: T.Optional(T.Boolean({ default: false })) })

export const logDestination: DestinationDefinition<typeof LogConfig> = {
  type: 'log',
  configSchema: LogConfig,
  // batches of 100: nothing goes over a network, so batching only saves attempt-recording overhead
  defaults: { batchSize: 100, concurrency: 1, timeoutMs: 1000 },
  create(name, config) {
    return {
      async send(jobs, ctx) {
        return jobs.map((job) => {
          const body = JSON.stringify(publicSignal(job.signal, config.include_pii === true))
          ctx.log.info({ signal: job.signal.name, id: job.signal.id }, 'log destination')
          return {
            kind: 'delivered' as const,
            code: 'LOGGED',
            exchange: { method: 'LOG', url: `log://${name}`, headers: {}, body, latencyMs: 0 },
          }
        })
      },
    }
  },
}
