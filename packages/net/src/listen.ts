/**
 * Listening on more addresses after start — e.g. `<hub>/p2p-circuit` once the hub accepted our
 * registration (its relay serves registered peers only). The Libp2p interface has no listen();
 * the implementation's transport manager does, so reach it through a narrow, checked view.
 */
import type { Multiaddr } from '@multiformats/multiaddr'
import { NetError } from './errors.js'
import type { TetherNode } from './node.js'

interface WithTransportManager {
  readonly components?: { readonly transportManager?: { listen(addresses: Multiaddr[]): Promise<void> } }
}

export async function listenOn(node: TetherNode, addresses: readonly Multiaddr[]): Promise<void> {
  const manager = (node as unknown as WithTransportManager).components?.transportManager
  if (!manager) {
    throw new NetError('ERR_BAD_CONFIG', 'this libp2p build exposes no transport manager to listen with', {
      origin: 'local',
    })
  }
  await manager.listen([...addresses])
}
