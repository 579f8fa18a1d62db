/**
 * Every destination type closeloop knows. Adding a destination is one line here and one folder.
 */
import type { DestinationDefinition } from './contract.ts'
import { ecapiDestination } from './ecapi/index.ts'
import { ga4Destination } from './ga4/index.ts'
import { googleAdsDestination } from './google_ads/index.ts'
import { googleDataManagerDestination } from './google_data_manager/index.ts'
import { logDestination } from './log/index.ts'
import { metaCapiDestination } from './meta_capi/index.ts'
import { postbackDestination } from './postback/index.ts'
import { tiktokDestination } from './tiktok/index.ts'
import { webhookDestination } from './webhook/index.ts'

export const DESTINATIONS: Record<string, DestinationDefinition> = Object.fromEntries(
  [
    logDestination,
    postbackDestination,
    webhookDestination,
    metaCapiDestination,
    googleDataManagerDestination,
    googleAdsDestination,
    ga4Destination,
    ecapiDestination,
    tiktokDestination,
  ].map((d) => [d.type, d as unknown as DestinationDefinition]),
)
