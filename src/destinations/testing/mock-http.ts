/**
 * Plumbing the platform mock servers share (tests only): reading a request body and listening on a random
 * loopback port. What a mock answers, and in which content type, stays with each mock: those mimic their
 * platform.
 *
 * @example
 *   const server = createServer(async (req, res) => { const raw = await readBody(req, 8 << 20); … })
 *   return { ...(await listenLocal(server)), requests }
 */
import type { IncomingMessage, Server } from 'node:http'
import type { AddressInfo } from 'node:net'

/**
 * The request body as UTF-8, read until it passes `maxBytes`: the chunk that passes the cap and the rest are
 * dropped, so an oversized body arrives cut short.
 *
 * @example const raw = await readBody(req, 8 << 20)
 */
export async function readBody(req: IncomingMessage, maxBytes: number): Promise<string> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of req) {
    size += (chunk as Buffer).length
    if (size > maxBytes) break
    chunks.push(chunk as Buffer)
  }
  return Buffer.concat(chunks).toString('utf8')
}

/**
 * The whole request body as UTF-8, however large.
 *
 * @example const raw = await readWholeBody(req)
 */
export const readWholeBody = (req: IncomingMessage): Promise<string> =>
  new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')))
    req.on('error', reject)
  })

/**
 * Listen on 127.0.0.1 at a random port. `close` drops open connections and stops the server; it rejects
 * when the server was not running, unless `quietClose` (then closing twice is harmless).
 *
 * @example const { url, close } = await listenLocal(server) // url: 'http://127.0.0.1:54321'
 */
export async function listenLocal(
  server: Server,
  opts: { quietClose?: boolean } = {},
): Promise<{ url: string; close(): Promise<void> }> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections()
        server.close((err) => (err && !opts.quietClose ? reject(err) : resolve()))
      }),
  }
}
