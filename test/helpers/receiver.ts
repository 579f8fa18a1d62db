/**
 * A real HTTP receiver on loopback that plays a postback network or webhook endpoint: records every
 * request and answers with a programmable script (status, headers, body, delay, or hang).
 *
 * @example
 *   const r = await startReceiver(); r.script([{ status: 500 }, { status: 200 }])
 */
import { createServer, type IncomingMessage } from 'node:http'
import type { AddressInfo } from 'node:net'

export interface Received {
  method: string
  url: string
  headers: IncomingMessage['headers']
  body: string
  at: number
}

export interface Reply {
  status?: number
  headers?: Record<string, string>
  body?: string
  delayMs?: number
  /** Never answer (the client must time out). */
  hang?: boolean
}

export async function startReceiver() {
  const received: Received[] = []
  let queue: Reply[] = []
  let fallback: Reply = { status: 200, body: 'ok' }
  const hanging = new Set<() => void>()
  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      received.push({
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
        at: Date.now(),
      })
      const reply = queue.shift() ?? fallback
      if (reply.hang) {
        hanging.add(() => res.destroy())
        return
      }
      const send = () => {
        res.writeHead(reply.status ?? 200, reply.headers ?? { 'content-type': 'text/plain' })
        res.end(reply.body ?? '')
      }
      if (reply.delayMs) setTimeout(send, reply.delayMs)
      else send()
    })
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const port = (server.address() as AddressInfo).port
  return {
    url: `http://127.0.0.1:${port}`,
    received,
    /** Replies for the next requests, in order; then `fallback`. */
    script(replies: Reply[]) {
      queue = [...replies]
    },
    setDefault(reply: Reply) {
      fallback = reply
    },
    async close() {
      for (const h of hanging) h()
      server.closeAllConnections()
      await new Promise<void>((r) => server.close(() => r()))
    },
  }
}
