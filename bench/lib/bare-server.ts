/**
 * The baseline: a bare `node:http` server that reads the body, `JSON.parse`s it and answers 200 with a tiny
 * JSON body. It is the ceiling for "one Node process answering JSON over HTTP/1.1 on this machine", so
 * closeloop's throughput divided by this one's says what validation, the pipeline and the durable commit cost.
 *
 * Run as a child: `node bench/lib/bare-server.ts <port>`. `GET /healthz` answers 200 for readiness.
 */
import { createServer } from 'node:http'

const port = Number(process.argv[2])
if (!Number.isInteger(port) || port <= 0) {
  process.stderr.write('usage: bare-server.ts <port>\n')
  process.exit(2)
}

const server = createServer((req, res) => {
  if (req.method === 'GET') {
    res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok"}')
    return
  }
  const chunks: Buffer[] = []
  req.on('data', (c: Buffer) => chunks.push(c))
  req.on('end', () => {
    try {
      const body: unknown = JSON.parse(Buffer.concat(chunks).toString('utf8'))
      // answer something derived from the body so the parse cannot be optimised away
      const n = typeof body === 'object' && body !== null && 'events' in body ? 'batch' : 'single'
      res.writeHead(200, { 'content-type': 'application/json' }).end(`{"status":"accepted","kind":"${n}"}`)
    } catch {
      res.writeHead(400, { 'content-type': 'application/json' }).end('{"error":"invalid json"}')
    }
  })
})
// same keep-alive behaviour as fastify's defaults (72 s) so connections are never re-opened mid-round
server.keepAliveTimeout = 72_000
server.listen(port, '127.0.0.1')
// nothing to finish: a baseline holds no state
process.on('SIGTERM', () => process.exit(0))
