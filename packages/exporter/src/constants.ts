/** Defaults and bounds of the exporter (one place for every tunable). */
import {
  MAX_ADDRESSES as DIRECTORY_MAX_ADDRESSES,
  MAX_COMPATIBLE as DIRECTORY_MAX_COMPATIBLE,
  MAX_INTERFACES_PER_PART as DIRECTORY_MAX_INTERFACES_PER_PART,
  MAX_PARTS_PER_PLACE as DIRECTORY_MAX_PARTS_PER_PLACE,
  MAX_PLACES as DIRECTORY_MAX_PLACES,
  MAX_TAGS as DIRECTORY_MAX_TAGS,
  MAX_DESCRIPTION_LENGTH,
} from '@tether/directory'

/** Listen addresses when places.toml and the command line give none. */
export const DEFAULT_LISTEN: readonly string[] = ['/ip4/0.0.0.0/tcp/0']

/** Identity file name under $XDG_STATE_HOME/tether (or ~/.local/state/tether). */
export const DEFAULT_IDENTITY_FILE = 'exporter.key'

/** Exporter names: lower case (they name things on the command line); the hub's rule. */
export const EXPORTER_NAME_PATTERN = /^[a-z0-9][a-z0-9._-]{0,62}$/
/** Place, part and interface names, and tags (the hub's ITEM_NAME rule). */
export const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/
/** Compatible strings may carry vendor prefixes: "raspberrypi,4-model-b". */
export const COMPATIBLE_PATTERN = /^[A-Za-z0-9][A-Za-z0-9,._+/-]{0,62}$/

// What one registration may hold: the hub's directory bounds.
export const MAX_PLACES = DIRECTORY_MAX_PLACES
export const MAX_PARTS_PER_PLACE = DIRECTORY_MAX_PARTS_PER_PLACE
export const MAX_INTERFACES_PER_PART = DIRECTORY_MAX_INTERFACES_PER_PART
export const MAX_TAGS = DIRECTORY_MAX_TAGS
export const MAX_COMPATIBLE = DIRECTORY_MAX_COMPATIBLE
export const MAX_DESCRIPTION = MAX_DESCRIPTION_LENGTH
/** Configured listen + announce addresses; the rest of the directory's limit is left for circuit addresses. */
export const MAX_CONFIGURED_ADDRESSES = 24
/** Addresses registered at most (the directory's limit). */
export const MAX_REGISTERED_ADDRESSES = DIRECTORY_MAX_ADDRESSES
/** USB interfaces get busids 1-1 … 1-127 (one virtual bus; devnum must fit 7 bits). */
export const MAX_USB_INTERFACES = 127

/** In-memory mass storage: at least one 512-byte block, at most 1 GiB of RAM. */
export const MIN_MEMORY_DISK_BYTES = 512
export const MAX_MEMORY_DISK_BYTES = 1024 ** 3

/** How often the relay reservation is checked (and re-made after the hub restarts). */
export const RELAY_CHECK_INTERVAL_MS = 2_000
/** Failed reservations back off exponentially from the check interval up to this. */
export const RELAY_RETRY_MAX_MS = 30_000

/** Handshake timeout for the TunnelOpen preamble on incoming tunnel streams. */
export const TUNNEL_HANDSHAKE_TIMEOUT_MS = 10_000
