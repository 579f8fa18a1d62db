/** The shipped webhook presets by name. */
import { callrail } from './callrail.ts'
import { invoca } from './invoca.ts'
import { retreaver } from './retreaver.ts'
import { ringba } from './ringba.ts'
import type { Preset } from './types.ts'

export type { Preset, PresetAuth } from './types.ts'

export const PRESET_NAMES = ['ringba', 'retreaver', 'callrail', 'invoca'] as const
export type PresetName = (typeof PRESET_NAMES)[number]

export const PRESETS: Record<PresetName, Preset> = { ringba, retreaver, callrail, invoca }
