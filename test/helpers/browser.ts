/**
 * A real browser for end-to-end tests: Debian's `chromium` driven by `playwright-core` (never a downloaded
 * browser), and a throwaway landing page server on 127.0.0.1 playing the advertiser's site.
 *
 * @example
 *   const browser = await launchChromium()
 *   const context = await browser.newContext({ userAgent: DESKTOP_CHROME_UA })
 *   const landing = await startLandingPage(() => '<html>…</html>')
 */
import { existsSync } from 'node:fs'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { type Browser, chromium } from 'playwright-core'

/** Debian's package installs it here (`apt-get install chromium`); `.ci/run` installs it when missing. */
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'

/** Why browser tests cannot run here, or undefined when they can. */
export const browserUnavailable = (): string | undefined =>
  existsSync(CHROMIUM_PATH) ? undefined : `no chromium at ${CHROMIUM_PATH} (apt-get install chromium)`

/**
 * A normal desktop Chrome user agent. Headless Chromium announces itself as `HeadlessChrome`, which closeloop
 * refuses as bot traffic (intended): a test that wants to be a person says what a person's browser says.
 */
export const DESKTOP_CHROME_UA =
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36'

export async function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  })
}

export interface LandingPage {
  /** `http://127.0.0.1:<port>`: the page origin a site key is bound to. */
  origin: string
  /** Paths the browser requested, in order (query strings included). */
  requests: string[]
  close(): Promise<void>
}

/**
 * Serves `html(path)` for every GET (built per request, so it may name servers started afterwards); 404 for the
 * favicon. A page with a `<!--flush-->` marker is streamed: the part before it at once, the rest `flushDelayMs`
 * later, like a slow page whose footer arrives after the head's async scripts have run.
 */
export async function startLandingPage(
  html: (path: string) => string,
  opts: { flushDelayMs?: number } = {},
): Promise<LandingPage> {
  const requests: string[] = []
  const server = createServer((req, res) => {
    const url = req.url ?? '/'
    requests.push(url)
    if (url === '/favicon.ico') {
      res.writeHead(404).end()
      return
    }
    const [head, tail] = html(new URL(url, 'http://x').pathname).split('<!--flush-->')
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' })
    if (tail === undefined) {
      res.end(head)
      return
    }
    // padding past the parser's first chunk, so the browser renders and runs what it has
    res.write(`${head}<!--${' '.repeat(4096)}-->`)
    const timer = setTimeout(() => res.end(tail), opts.flushDelayMs ?? 1000)
    res.on('close', () => clearTimeout(timer))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    origin: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections()
        server.close((err) => (err ? reject(err) : resolve()))
      }),
  }
}
