import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { multiaddr } from '@multiformats/multiaddr'
import { registrationAddresses } from '../src/index.js'

const SELF = '12D3KooWBtAWSDF3NZ8sy4gwc2kDwSZKHkNaDye2nYycHVSg2Zkz'
const HUB = '12D3KooWFBrjfPas5nyLRZG5M9wBw9yf76u5UwuK2M8XPS4ikvUz'

describe('registration addresses', () => {
  test('drop the /p2p/<self> suffix, put circuit addresses first, remove duplicates', () => {
    const addresses = [
      `/ip4/127.0.0.1/tcp/4002/p2p/${SELF}`,
      `/ip4/192.0.2.7/tcp/4002/p2p/${SELF}`,
      `/ip4/192.0.2.1/tcp/4001/p2p/${HUB}/p2p-circuit/p2p/${SELF}`,
      '/ip4/127.0.0.1/tcp/4002',
    ].map((a) => multiaddr(a))
    assert.deepEqual(registrationAddresses(addresses, SELF), [
      `/ip4/192.0.2.1/tcp/4001/p2p/${HUB}/p2p-circuit`,
      '/ip4/127.0.0.1/tcp/4002',
      '/ip4/192.0.2.7/tcp/4002',
    ])
  })

  test('at most the directory limit, circuit addresses kept', () => {
    const many = Array.from({ length: 40 }, (_, i) => multiaddr(`/ip4/10.0.0.${i}/tcp/1/p2p/${SELF}`))
    const circuit = multiaddr(`/ip4/192.0.2.1/tcp/4001/p2p/${HUB}/p2p-circuit/p2p/${SELF}`)
    const out = registrationAddresses([...many, circuit], SELF)
    assert.equal(out.length, 32)
    assert.equal(out[0], `/ip4/192.0.2.1/tcp/4001/p2p/${HUB}/p2p-circuit`)
  })
})
