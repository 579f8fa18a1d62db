/**
 * A TCP proxy in front of PostgreSQL, so one test can take "the database" away from its nodes without
 * touching the server other tests share: `down()` drops every open connection and refuses new ones
 * (what a client sees during a server restart), `up()` accepts again on the same port.
 *
 * @example
 *   const proxy = await startPgProxy(db.url); // nodes use proxy.url
 *   await proxy.down(); …; await proxy.up(); await proxy.close()
 */
import { type AddressInfo, connect, createServer, type Server, type Socket } from 'node:net'

export async function startPgProxy(targetUrl: string) {
  const target = new URL(targetUrl)
  const targetPort = Number(target.port || 5432)
  const sockets = new Set<Socket>()
  let server: Server | undefined
  let port = 0
  let connections = 0

  function listen(): Promise<void> {
    const srv = createServer((client) => {
      connections++
      const upstream = connect(targetPort, target.hostname)
      sockets.add(client)
      sockets.add(upstream)
      const drop = () => {
        client.destroy()
        upstream.destroy()
        sockets.delete(client)
        sockets.delete(upstream)
      }
      client.on('error', drop).on('close', drop)
      upstream.on('error', drop).on('close', drop)
      client.pipe(upstream)
      upstream.pipe(client)
    })
    server = srv
    return new Promise<void>((resolve, reject) => {
      srv.once('error', reject)
      srv.listen(port, '127.0.0.1', () => {
        srv.off('error', reject)
        port = (srv.address() as AddressInfo).port
        resolve()
      })
    })
  }

  async function stop() {
    const srv = server
    server = undefined
    for (const s of sockets) s.destroy()
    sockets.clear()
    if (srv) await new Promise<void>((r) => srv.close(() => r()))
  }

  await listen()
  const url = new URL(targetUrl)
  url.host = `127.0.0.1:${port}`
  return {
    url: url.toString(),
    /** Connections accepted so far. */
    connections: () => connections,
    /** Drop every connection and stop listening: connects are refused until `up()`. */
    down: stop,
    async up() {
      if (server) return
      // the port is ours until someone else binds it in the outage; retry briefly if the OS is slow to free it
      for (let i = 0; ; i++) {
        try {
          await listen()
          return
        } catch (err) {
          if (i >= 50) throw err
          await new Promise((r) => setTimeout(r, 100))
        }
      }
    },
    close: stop,
  }
}
