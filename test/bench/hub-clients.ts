/**
 * Simulated importers of `pnpm bench:hub`: several libp2p nodes in one process (hub-bench.ts
 * starts a few of these so that the hub, not the clients, is what is measured).
 *
 *   node hub-clients.js HUB_MULTIADDR
 *
 * Prints one JSON line when started, then answers JSON-line commands:
 *
 *   {"cmd":"connect","tokens":[...],"perSecond":R,"atOnce":K}  one node per token, dialled at
 *                                                    R/s, K at once, each asking whoami once
 *                                                    (connects, checks the token)
 *   {"cmd":"churn","ms":D,"exporters":N,"places":P} each node loops reserve (wait: false, a
 *                                                    random place, again on ERR_BUSY) then return,
 *                                                    for D ms; latencies in µs
 *   {"cmd":"requests","type":"whoami"|"jwks","count":C}  C requests over all nodes; latencies in µs
 */
import { generateKeyPair } from '@libp2p/crypto/keys'
import { multiaddr } from '@multiformats/multiaddr'
import { callHub, type HubRequest, HubRequestError } from '@tether/control'
import { createTetherNode, type TetherNode } from '@tether/net'
import { placeName, serveCommands } from './hub-issuer.js'

interface Client {
  readonly node: TetherNode
  readonly login: string
}

const hub = multiaddr(process.argv[2] ?? '')
const clients: Client[] = []
const LEASE_MS = 10 * 60_000

const us = (since: number) => Math.round((performance.now() - since) * 1000)
const codeOf = (err: unknown) =>
  err instanceof HubRequestError ? err.code : ((err as { code?: string }).code ?? (err as Error).name)

async function connect(tokens: string[], perSecond: number, atOnce: number) {
  const started = performance.now()
  const gap = 1000 / perSecond
  const latencies: number[] = []
  const refused: Record<string, number> = {}
  // libp2p upgrades at most 10 inbound connections at once (maxIncomingPendingConnections) and
  // resets the rest: keep `atOnce` dials in flight from this process, and retry a refused one.
  let inFlight = 0
  const slots: Array<() => void> = []
  const acquire = async () => {
    while (inFlight >= atOnce) await new Promise<void>((resolve) => slots.push(resolve))
    inFlight++
  }
  const release = () => {
    inFlight--
    slots.shift()?.()
  }
  await Promise.all(
    tokens.map(async (login, k) => {
      await new Promise((resolve) => setTimeout(resolve, k * gap))
      const node = await createTetherNode({
        privateKey: await generateKeyPair('Ed25519'),
        listen: [],
        webSockets: false,
      })
      clients.push({ node, login })
      for (let attempt = 1; ; attempt++) {
        await acquire()
        const t = performance.now()
        try {
          const answer = await callHub(node, hub, { login, body: { type: 'whoami' } })
          if (answer.type !== 'identity') throw new Error(`whoami answered ${answer.type}`)
          latencies.push(us(t))
          return
        } catch (err) {
          if (err instanceof HubRequestError || attempt >= 10) throw err
          const code = codeOf(err)
          refused[code] = (refused[code] ?? 0) + 1
        } finally {
          release()
        }
        await new Promise((resolve) => setTimeout(resolve, 100 * attempt))
      }
    }),
  )
  return { connected: clients.length, ms: performance.now() - started, latencies, refused }
}

async function churn(ms: number, exporters: number, places: number) {
  const reserve: number[] = []
  const giveBack: number[] = []
  const errors: Record<string, number> = {}
  let busy = 0
  const started = performance.now()
  const deadline = started + ms
  const randomPlace = () =>
    placeName(Math.floor(Math.random() * exporters), Math.floor(Math.random() * places))
  await Promise.all(
    clients.map(async ({ node, login }) => {
      while (performance.now() < deadline) {
        let leaseId: string | undefined
        while (leaseId === undefined && performance.now() < deadline) {
          const body: HubRequest['body'] = {
            type: 'reserve',
            place: randomPlace(),
            tags: [],
            parts: [],
            priority: 0,
            leaseMs: LEASE_MS,
            wait: false,
          }
          const t = performance.now()
          try {
            const answer = await callHub(node, hub, { login, body })
            if (answer.type !== 'lease') throw new Error(`reserve answered ${answer.type}`)
            reserve.push(us(t))
            leaseId = answer.lease.id
          } catch (err) {
            const code = codeOf(err)
            if (code === 'ERR_BUSY') busy++
            else {
              errors[code] = (errors[code] ?? 0) + 1
              await new Promise((resolve) => setTimeout(resolve, 100))
            }
          }
        }
        if (leaseId === undefined) break
        // Always give the lease back, even past the deadline: the next phase starts clean.
        const t = performance.now()
        try {
          await callHub(node, hub, { login, body: { type: 'return', id: leaseId } })
          giveBack.push(us(t))
        } catch (err) {
          const code = `return:${codeOf(err)}`
          errors[code] = (errors[code] ?? 0) + 1
        }
      }
    }),
  )
  return { reserve, return: giveBack, busy, errors, ms: performance.now() - started }
}

async function requests(type: 'whoami' | 'jwks', count: number) {
  const latencies: number[] = []
  const errors: Record<string, number> = {}
  let remaining = count
  const started = performance.now()
  await Promise.all(
    clients.map(async ({ node, login }) => {
      while (remaining > 0) {
        remaining--
        const t = performance.now()
        try {
          await callHub(node, hub, { login: type === 'jwks' ? '' : login, body: { type } })
          latencies.push(us(t))
        } catch (err) {
          const code = codeOf(err)
          errors[code] = (errors[code] ?? 0) + 1
        }
      }
    }),
  )
  return { latencies, errors, ms: performance.now() - started }
}

serveCommands(
  async (command) => {
    switch (command.cmd) {
      case 'connect':
        return connect(command.tokens as string[], Number(command.perSecond), Number(command.atOnce))
      case 'churn':
        return churn(Number(command.ms), Number(command.exporters), Number(command.places))
      case 'requests':
        return requests(command.type as 'whoami' | 'jwks', Number(command.count))
      default:
        throw new Error(`unknown command ${String(command.cmd)}`)
    }
  },
  async () => {
    await Promise.allSettled(clients.map((c) => c.node.stop()))
  },
)
process.stdout.write(`${JSON.stringify({ pid: process.pid })}\n`)
