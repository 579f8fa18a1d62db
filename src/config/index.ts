/** Loading config against the registries of this build. */
import { DESTINATIONS } from '../destinations/registry.ts'
import { SOURCES } from '../sources/registry.ts'
import { type LoadResult, loadConfig, loadConfigFile } from './load.ts'

const registries = { destinations: DESTINATIONS, sources: SOURCES }

export const readConfigFile = (path: string, env: NodeJS.ProcessEnv = process.env): LoadResult =>
  loadConfigFile(path, env, registries)

export const readConfig = (text: string, env: NodeJS.ProcessEnv = process.env): LoadResult =>
  loadConfig(text, env, registries)
