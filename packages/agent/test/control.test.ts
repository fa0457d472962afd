import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { multiaddr } from '@multiformats/multiaddr'
import { splitHostPort } from '../src/agent.js'
import { reconnectDelay } from '../src/backoff.js'
import { planDial } from '../src/connector.js'
import { defaultSocketPath, parseControlRequest } from '../src/control.js'
import type { AgentError } from '../src/errors.js'
import { resolveGroup, SYSTEM_SOCKET } from '../src/socket-access.js'

describe('parseControlRequest', () => {
  it('accepts the known ops and keeps only known fields', () => {
    assert.deepEqual(
      parseControlRequest('{"op":"attach","target":"rpi-1","hub":"/ip4/1.2.3.4/tcp/1","x":1}'),
      {
        op: 'attach',
        target: 'rpi-1',
        hub: '/ip4/1.2.3.4/tcp/1',
      },
    )
    assert.deepEqual(parseControlRequest('{"op":"detach","all":true}'), { op: 'detach', all: true })
    assert.deepEqual(parseControlRequest('{"op":"status"}'), { op: 'status' })
  })

  it('refuses bad requests with ERR_BAD_REQUEST', () => {
    for (const bad of [
      'nope',
      '[]',
      'null',
      '{"op":"format-disk"}',
      '{"op":"attach"}',
      '{"op":"attach","target":5}',
      '{"op":"detach"}',
      '{"op":"detach","all":"yes"}',
    ]) {
      assert.throws(
        () => parseControlRequest(bad),
        (err: Error & { code?: string }) => err.code === 'ERR_BAD_REQUEST',
        bad,
      )
    }
  })
})

describe('defaultSocketPath', () => {
  const noSystemAgent = () => false
  it('prefers the environment, then /run for root, then the runtime dir', () => {
    assert.equal(defaultSocketPath({ TETHER_AGENT_SOCKET: '/x.sock' }, 1000, noSystemAgent), '/x.sock')
    assert.equal(defaultSocketPath({}, 0, noSystemAgent), '/run/tether/agent.sock')
    assert.equal(
      defaultSocketPath({ XDG_RUNTIME_DIR: '/run/user/1000' }, 1000, noSystemAgent),
      '/run/user/1000/tether/agent.sock',
    )
    assert.equal(defaultSocketPath({}, 1000, noSystemAgent), '/tmp/tether-1000/agent.sock')
  })

  it('a user who may use the system agent (its --group) gets its socket', () => {
    const usable = (path: string) => path === SYSTEM_SOCKET
    assert.equal(defaultSocketPath({ XDG_RUNTIME_DIR: '/run/user/1000' }, 1000, usable), SYSTEM_SOCKET)
    assert.equal(defaultSocketPath({ TETHER_AGENT_SOCKET: '/x.sock' }, 1000, usable), '/x.sock')
  })
})

describe('resolveGroup', () => {
  it('a name from the group file, a numeric gid as is, and an unknown name named with the fix', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tether-group-'))
    try {
      const file = join(dir, 'group')
      await writeFile(file, 'root:x:0:\nlab:x:1234:alice,bob\nbroken-line\n')
      assert.equal(resolveGroup('lab', file), 1234)
      assert.equal(resolveGroup('0', file), 0)
      assert.equal(resolveGroup('4321', file), 4321)
      assert.throws(
        () => resolveGroup('nolab', file),
        (e: AgentError) => {
          assert.equal(e.code, 'ERR_BAD_REQUEST')
          assert.match(e.message, /no group nolab in .*group; create it \(groupadd nolab\)/)
          return true
        },
      )
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })
})

describe('planDial', () => {
  const peer = '12D3KooWLQwdht64faB3xe6xBGg7Mr19azjsdgBaK5X8Lxy3YD5z'
  const hubId = '12D3KooWSAhxsQQz8P4YQJVTxTzwGXNeDRa7kHREqa2mmujsq1gy'
  const addresses = [
    '/ip4/127.0.0.1/tcp/4000',
    '/ip4/10.1.0.2/tcp/4000',
    `/ip4/198.51.100.10/tcp/4001/p2p/${hubId}/p2p-circuit`,
    'garbage',
  ]

  it('direct addresses first, loopback only when the hub is local, the hub relay last', () => {
    const remoteHub = multiaddr(`/ip4/198.51.100.10/tcp/4001/p2p/${hubId}`)
    const plan = planDial({ peerId: peer, addresses }, remoteHub)
    assert.deepEqual(plan.direct.map(String), [`/ip4/10.1.0.2/tcp/4000/p2p/${peer}`])
    assert.deepEqual(plan.relayed.map(String), [
      `/ip4/198.51.100.10/tcp/4001/p2p/${hubId}/p2p-circuit/p2p/${peer}`,
    ])

    const localHub = multiaddr(`/ip4/127.0.0.1/tcp/4001/p2p/${hubId}`)
    const local = planDial({ peerId: peer, addresses }, localHub)
    assert.equal(local.direct.length, 2)
    assert.equal(local.relayed.length, 2)
  })
})

describe('splitHostPort and reconnectDelay', () => {
  it('parses HOST:PORT forms', () => {
    assert.deepEqual(splitHostPort('127.0.0.1:3240'), ['127.0.0.1', 3240])
    assert.deepEqual(splitHostPort(':0'), ['127.0.0.1', 0])
    assert.deepEqual(splitHostPort('[::1]:3240'), ['::1', 3240])
    assert.throws(() => splitHostPort('3240'), /HOST:PORT/)
    assert.throws(() => splitHostPort('h:99999'), /HOST:PORT/)
  })

  it('backs off exponentially with jitter, capped', () => {
    assert.equal(
      reconnectDelay(1, () => 0.5),
      500,
    )
    assert.equal(
      reconnectDelay(3, () => 0.5),
      2000,
    )
    assert.equal(
      reconnectDelay(50, () => 0.5),
      10_000,
    )
    assert.ok(reconnectDelay(1, () => 0) < reconnectDelay(1, () => 1))
  })
})
