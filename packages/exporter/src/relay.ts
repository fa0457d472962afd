/**
 * Keeps a circuit-relay-v2 reservation on the hub so importers that cannot reach us directly can
 * dial `<hub>/p2p-circuit/p2p/<us>`. The hub's relay serves registered peers only, so this starts
 * after a successful registration, and re-listens whenever the circuit address is gone (the hub
 * restarted, the connection dropped) while we are registered.
 */
import type { Multiaddr } from '@multiformats/multiaddr'
import { isCircuitAddress, type Logger, listenOn, type TetherNode } from '@tether/net'
import { RELAY_CHECK_INTERVAL_MS, RELAY_RETRY_MAX_MS } from './constants.js'

export interface RelayKeeper {
  /** True while the node listens on a circuit address through the hub. */
  readonly reserved: boolean
  /** Check now, forgetting earlier failures (e.g. right after a registration succeeded). */
  poke(): void
  stop(): void
}

export function keepRelayReservation(
  node: TetherNode,
  init: {
    hub: Multiaddr
    /** Whether the hub currently holds our registration (reservations are refused otherwise). */
    registered: () => boolean
    logger: Logger
    intervalMs?: number
    /** Called when the circuit address appears or disappears. */
    onChange?: (reserved: boolean) => void
  },
): RelayKeeper {
  const hubPeer = init.hub.getComponents().findLast((c) => c.name === 'p2p')?.value
  const circuit = init.hub.encapsulate('/p2p-circuit')
  const log = init.logger
  let attempting = false
  let stopped = false
  let reserved = false
  let failures = 0
  let notBefore = 0
  const interval = init.intervalMs ?? RELAY_CHECK_INTERVAL_MS

  const viaHub = (address: Multiaddr) =>
    isCircuitAddress(address) && address.getComponents().some((c) => c.name === 'p2p' && c.value === hubPeer)

  const check = () => {
    if (stopped) return
    const now = node.getMultiaddrs().some(viaHub)
    if (now !== reserved) {
      reserved = now
      if (now) log.info('relay reservation on the hub', { hub: hubPeer })
      else log.warn('relay reservation on the hub lost; will re-reserve once registered', { hub: hubPeer })
      init.onChange?.(now)
    }
    if (now || attempting || !init.registered() || Date.now() < notBefore) return
    attempting = true
    log.debug('reserving a relay slot on the hub', { address: circuit.toString() })
    listenOn(node, [circuit]).then(
      () => {
        attempting = false
        failures = 0
        check()
      },
      (err: Error) => {
        attempting = false
        failures++
        const delay = Math.min(RELAY_RETRY_MAX_MS, interval * 2 ** (failures - 1))
        notBefore = Date.now() + delay
        log.debug('relay reservation failed; retrying', { error: err.message, retryInMs: delay })
      },
    )
  }

  const timer = setInterval(check, interval)
  timer.unref()
  const onAddresses = () => check()
  node.addEventListener('self:peer:update', onAddresses)
  return {
    get reserved() {
      return reserved
    },
    poke() {
      failures = 0
      notBefore = 0
      check()
    },
    stop() {
      stopped = true
      clearInterval(timer)
      node.removeEventListener('self:peer:update', onAddresses)
    },
  }
}
