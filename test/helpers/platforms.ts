/**
 * The ad platforms' local APIs started together for end-to-end tests: Meta's Graph API, Google's OAuth token
 * server and Data Manager, with the `meta` and `google` destinations' config pointed at them.
 *
 * @example
 *   const ads = await startAdPlatforms()
 *   const app = await startApp(`destinations:\n${ads.destinations}\nroutes: [{ signals: ["*"], to: [meta, google] }]`)
 *   ads.graph.accepted // what Meta took; ads.google.events // what Data Manager took
 */
import { startMockTokenServer } from '../../src/destinations/google/mock-token-server.ts'
import { startMockDataManager } from '../../src/destinations/google_data_manager/mock-server.ts'
import { startMockGraph } from '../../src/destinations/meta_capi/mock-server.ts'

export const META_TOKEN = 'meta-token-123'

export async function startAdPlatforms(opts: { metaExtra?: string } = {}) {
  const graph = await startMockGraph({ tokens: [META_TOKEN], pixels: ['123'] })
  const tokens = await startMockTokenServer({
    clients: [{ clientId: 'cid', clientSecret: 'csecret', refreshToken: 'rtok' }],
  })
  const google = await startMockDataManager({
    tokens,
    conversionActions: ['111'],
    operatingAccountId: '1234567890',
  })
  const meta = `{ type: meta_capi, pixel_id: "123", access_token: ${META_TOKEN}, base_url: "${graph.url}", allow_private: true${opts.metaExtra ? `, ${opts.metaExtra}` : ''} }`
  return {
    graph,
    tokens,
    google,
    /** The `meta` and `google` destinations, as lines of YAML under `destinations:`. */
    destinations: `  meta: ${meta}
  google:
    type: google_data_manager
    client_id: cid
    client_secret: csecret
    refresh_token: rtok
    token_url: "${tokens.url}/token"
    base_url: "${google.url}"
    allow_private: true
    operating_account_id: "1234567890"
    destination_id: "111"`,
    async close() {
      await graph.close()
      await google.close()
      await tokens.close()
    },
  }
}
