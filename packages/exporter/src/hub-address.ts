import { type Multiaddr, multiaddr } from '@multiformats/multiaddr'
import { hubAddressProblem } from './config/parse.js'
import { ExporterError } from './errors.js'

/**
 * Parse a hub multiaddr, which must end in /p2p/<hub peer id>. `source` names where it came
 * from in the error ("--hub", "places.toml: hub.address"). Throws ExporterError ERR_CONFIG.
 */
export function parseHubAddress(text: string, source: string): Multiaddr {
  const why = hubAddressProblem(text)
  if (why !== undefined) {
    throw new ExporterError(
      'ERR_CONFIG',
      `${source}: ${JSON.stringify(text)} ${why}; write the hub multiaddr with its peer id, e.g. /ip4/192.0.2.1/tcp/4001/p2p/12D3KooW...`,
      { details: { source, address: text } },
    )
  }
  return multiaddr(text)
}
