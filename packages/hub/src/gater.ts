/**
 * The hub's connection gater: its relay serves only exporters known to the directory. A peer
 * may hold a relay reservation only with a live registration (waiting a short grace for the
 * registration that races with it), and relayed connections may only go to registered exporters.
 * Open mode: any source may connect to them.
 */
import type { ConnectionGater, PeerId } from '@libp2p/interface'
import type { DirectoryRegistry } from '@tether/directory'
import type { Logger } from '@tether/net'

export interface HubGater extends ConnectionGater {
  /** Abort pending grace waits (on hub stop). */
  close(): void
}

export function createHubGater(init: {
  registry: DirectoryRegistry
  logger: Logger
  graceMs: number
}): HubGater {
  const { registry, logger: log, graceMs } = init
  const closing = new AbortController()

  const waitForRegistration = (peer: string): Promise<boolean> =>
    new Promise((resolve) => {
      if (registry.isRegistered(peer)) return resolve(true)
      const done = (result: boolean) => {
        clearTimeout(timer)
        unsubscribe()
        closing.signal.removeEventListener('abort', onClose)
        resolve(result)
      }
      const onClose = () => done(false)
      const unsubscribe = registry.subscribe((change) => {
        if (change.type === 'registered' && change.entry.peerId === peer) done(true)
      })
      const timer = setTimeout(() => done(registry.isRegistered(peer)), graceMs)
      closing.signal.addEventListener('abort', onClose, { once: true })
    })

  return {
    async denyInboundRelayReservation(source: PeerId) {
      const peer = source.toString()
      if (await waitForRegistration(peer)) {
        const entry = registry.lookup(peer)
        log.info('relay reservation allowed', { peer, name: entry?.name })
        return false
      }
      log.warn('relay reservation refused', {
        peer,
        reason: `no live directory registration within ${graceMs} ms (exporters register before reserving)`,
      })
      return true
    },
    denyOutboundRelayedConnection(source: PeerId, destination: PeerId) {
      const entry = registry.lookup(destination)
      if (entry) {
        log.debug('relayed connection allowed', { source: source.toString(), destination: entry.name })
        return false
      }
      log.warn('relayed connection refused', {
        source: source.toString(),
        destination: destination.toString(),
        reason: 'destination is not a registered exporter',
      })
      return true
    },
    close() {
      closing.abort()
    },
  }
}
