import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { ForwardInfo } from '@tether/agent'
import { formatStatus } from '../src/commands/importer.js'

const forward = (over: Partial<ForwardInfo>): ForwardInfo => ({
  id: '1',
  exporter: 'lab-a-1',
  peerId: '12D3KooWexporter',
  place: 'rpi-2',
  address: '127.0.0.1:3240',
  state: 'up',
  lastError: undefined,
  connections: 3,
  active: 1,
  bytesIn: 2048,
  bytesOut: 10,
  path: 'direct',
  rttMs: 1.5,
  ...over,
})

test('tether status: a forward shows its path while up, "ended" and the reason once its lease is over', () => {
  const text = formatStatus({
    peerId: '12D3KooWagent',
    addresses: [],
    hub: undefined,
    attachments: [],
    forwards: [
      forward({}),
      forward({
        id: '2',
        state: 'ended',
        path: undefined,
        rttMs: undefined,
        lastError: "the exporter refused the lease's capability: … (ERR_TOKEN_REVOKED)",
      }),
    ],
  })
  const [, up, ended] = text.trimEnd().split('\n')
  assert.equal(
    up,
    'forward lab-a-1:rpi-2 on 127.0.0.1:3240  direct  peer 12D3KooWexporter  rtt 1.5 ms  1 active / 3 connections  in 2.0 KiB out 10 B',
  )
  assert.equal(
    ended,
    "forward lab-a-1:rpi-2 on 127.0.0.1:3240  ended  peer 12D3KooWexporter  1 active / 3 connections  in 2.0 KiB out 10 B  last error: the exporter refused the lease's capability: … (ERR_TOKEN_REVOKED)",
  )
})
