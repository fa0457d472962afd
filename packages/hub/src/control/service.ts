/**
 * The hub's control protocol, /tether/hub/1.0.0: who is asking (the OIDC token, checked against
 * hub.toml), what they may do (the policy), and the reservation engine that does it. Capability
 * tokens are signed here and bound to the noise-authenticated peer that asks for them.
 */
import type { Connection, PeerId, Stream } from '@libp2p/interface'
import {
  AuthError,
  authorize,
  cnfForPeer,
  evaluate,
  type HubConfig,
  isAuthError,
  newestSigningKey,
  type Principal,
  publicJwks,
  type Right,
  type SigningKey,
  signCapability,
  type VerifiedIdentity,
} from '@tether/auth'
import {
  CAPABILITY_LIFETIME_MS,
  DEFAULT_JOIN_TOKEN_MS,
  DEFAULT_LEASE_MS,
  HUB_PROTOCOL,
  type HubRequest,
  HubRequestCodec,
  type HubResponse,
  HubResponseCodec,
  type LeaseInfo,
  MAX_LOGIN_TOKEN,
  type QueueEntryInfo,
} from '@tether/control'
import type { DirectoryEntry, DirectoryRegistry } from '@tether/directory'
import {
  isNetError,
  type Logger,
  MessageReader,
  silentLogger,
  type TetherNode,
  writeMessage,
} from '@tether/net'
import type { Enrollment } from '../enrollment/enrollment.js'
import { isHubError } from '../errors.js'
import { isReservationError, ReservationError } from '../reservations/errors.js'
import type { ReservationService } from '../reservations/service.js'
import type { EngineEvent, Lease, QueueEntry, ReservationTarget } from '../reservations/types.js'

export interface HubControlInit {
  readonly node: TetherNode
  readonly policy: HubConfig
  readonly verifier: { verify(token: string): Promise<VerifiedIdentity> }
  readonly reservations: ReservationService
  readonly registry: DirectoryRegistry
  readonly signingKeys: () => readonly SigningKey[]
  readonly enrollment: Enrollment
  /** `iss` of capability tokens. */
  readonly issuer: string
  readonly now?: () => number
  readonly logger?: Logger
}

type Send = (response: HubResponse) => Promise<void>

export async function serveHubControl(init: HubControlInit): Promise<{ stop(): Promise<void> }> {
  const control = new HubControl(init)
  await init.node.handle(HUB_PROTOCOL, (stream, connection) => control.serve(stream, connection), {
    runOnLimitedConnection: true,
  })
  return {
    stop: async () => {
      control.close()
      await init.node.unhandle(HUB_PROTOCOL)
    },
  }
}

interface CapabilityHolder {
  readonly peer: string
  readonly user: string
  readonly rights: readonly Right[]
}

class HubControl {
  private readonly log: Logger
  private readonly now: () => number
  /** Lease id → the peer its capability was last given to (and for whom, with which rights). */
  private readonly capabilityHolders = new Map<string, CapabilityHolder>()

  private readonly unsubscribe: () => void

  constructor(private readonly init: HubControlInit) {
    this.log = (init.logger ?? silentLogger).child('hub:control')
    this.now = init.now ?? Date.now
    this.unsubscribe = init.reservations.subscribe((events) => {
      for (const event of events) {
        if (event.type === 'lease-ended') this.capabilityHolders.delete(event.lease.id)
      }
    })
  }

  close(): void {
    this.unsubscribe()
  }

  async serve(stream: Stream, connection: Connection): Promise<void> {
    const peer = connection.remotePeer
    const reader = new MessageReader(stream, { maxFrameSize: MAX_LOGIN_TOKEN + 4096 })
    const send: Send = (response) => writeMessage(stream, HubResponseCodec, response)
    let request: HubRequest | undefined
    try {
      request = await reader.read(HubRequestCodec, { signal: AbortSignal.timeout(10_000) })
      await this.handle(request, peer, send, stream)
    } catch (err) {
      const failure = describeFailure(err)
      if (!failure) {
        this.log.error('hub request failed', { peer: peer.toString(), error: (err as Error).message })
      }
      const { code, message } = failure ?? { code: 'ERR_INTERNAL', message: 'the hub failed; see its log' }
      this.log.info('refused', { peer: peer.toString(), request: request?.body.type, code, message })
      // Login and policy refusals go to the audit log too (the engine records its own).
      if (request && isAuthError(err)) {
        const place = 'place' in request.body ? request.body.place : undefined
        await this.init.reservations
          .run((e) =>
            e.recordRefusal(this.now(), {
              request: request?.body.type ?? 'unknown',
              code,
              message,
              ...(place ? { place } : {}),
            }),
          )
          .catch(() => {})
      }
      await send({ type: 'failure', code, message }).catch(() => {})
    }
    await stream.close().catch(() => stream.abort(new Error('closing')))
  }

  private async handle(request: HubRequest, peer: PeerId, send: Send, stream: Stream): Promise<void> {
    const body = request.body
    // Two requests need no login: the public keys, and an exporter presenting its join token.
    if (body.type === 'jwks') {
      return send({ type: 'jwks', json: JSON.stringify(publicJwks([...this.init.signingKeys()])) })
    }
    if (body.type === 'auth-info') {
      return send({
        type: 'auth-info',
        issuers: this.init.policy.issuers.map((i) => ({
          url: i.url,
          clientId: i.clientId,
          ...(i.deviceClientId !== undefined ? { deviceClientId: i.deviceClientId } : {}),
        })),
      })
    }
    if (body.type === 'watch') return this.watch(peer, send, stream)
    if (body.type === 'capability' && request.login === '') {
      return send(await this.renewCapability(body.leaseId, peer))
    }
    if (body.type === 'enroll') {
      const exporter = this.init.enrollment.enroll(body.joinToken, peer.toString())
      this.log.info('exporter enrolled', { exporter, peer: peer.toString() })
      return send({ type: 'enrolled', exporter })
    }
    const { principal, identity } = await this.authenticate(request.login)
    const user = principal.name
    const engine = this.init.reservations.engine
    const run = <T>(op: Parameters<ReservationService['run']>[0] & ((e: typeof engine) => T)) =>
      this.init.reservations.run(op) as Promise<T>
    switch (body.type) {
      case 'whoami':
        return send({
          type: 'identity',
          user,
          roles: [...principal.roles],
          issuer: principal.issuer,
          expiresAtMs: identity.expiresAt,
        })
      case 'reserve': {
        const target = this.resolveTarget(body)
        const place = target.kind === 'place' ? target.place : undefined
        const access = authorize(principal, {
          action: 'reserve',
          ...(place ? { place: place.name, placeTags: place.tags } : { place: '*' }),
          priority: body.priority,
          ...(body.leaseMs > 0 ? { leaseMs: body.leaseMs } : {}),
          reservations: engine.listLeases({ user }).length,
        })
        const leaseMs = body.leaseMs > 0 ? body.leaseMs : (access.maxLeaseMs ?? DEFAULT_LEASE_MS)
        const result = await run((e) =>
          e.reserve(
            {
              user,
              groups: principal.groups,
              target: target.engineTarget,
              priority: body.priority,
              leaseMs,
              wait: body.wait,
            },
            this.now(),
          ),
        )
        if (result.kind === 'lease') return send({ type: 'lease', lease: this.leaseInfo(result.lease) })
        return this.waitInQueue(result.entry, send, stream)
      }
      case 'return': {
        if (engine.show(body.id)?.kind === 'queued') {
          // Not `progress` (that means "keep waiting"): the entry, out of the queue, in a list.
          const info = this.entryInfo(engine.listQueue({ user }).find((q) => q.id === body.id) as QueueEntry)
          await run((e) => e.cancel(body.id, user, this.now()))
          return send({ type: 'list', leases: [], queue: [{ ...info, position: 0 }] })
        }
        const lease = await run((e) => e.returnLease(body.id, user, this.now()))
        return send({ type: 'lease', lease: this.leaseInfo(lease) })
      }
      case 'renew': {
        const current = engine.listLeases({ user }).find((l) => l.id === body.id)
        if (!current)
          throw new ReservationError('ERR_NOT_FOUND', `you hold no lease ${body.id}; see tether list`)
        const access = authorize(principal, { action: 'reserve', ...this.placeAccessArgs(current.place) })
        const lease = await run((e) =>
          e.renew(
            {
              leaseId: body.id,
              user,
              maxLeaseMs: access.maxLeaseMs ?? DEFAULT_LEASE_MS,
              ...(body.leaseMs > 0 ? { extendMs: body.leaseMs } : {}),
            },
            this.now(),
          ),
        )
        return send({ type: 'lease', lease: this.leaseInfo(lease) })
      }
      case 'capability':
        return send(await this.capability(principal, body.leaseId, peer))
      case 'list': {
        const all = body.all && principal.roles.includes('admin')
        const filter = all ? {} : { user }
        return send({
          type: 'list',
          leases: engine.listLeases(filter).map((l) => this.leaseInfo(l)),
          queue: engine.listQueue(filter).map((q) => this.entryInfo(q)),
        })
      }
      case 'show': {
        const shown = engine.show(body.id)
        if (
          !shown ||
          (shown.kind !== 'grant' && shownUser(shown) !== user && !principal.roles.includes('admin'))
        ) {
          throw new ReservationError('ERR_NOT_FOUND', `nothing called ${body.id} is yours to see`)
        }
        if (shown.kind === 'lease') return send({ type: 'lease', lease: this.leaseInfo(shown.lease) })
        if (shown.kind === 'queued')
          return send({ type: 'list', leases: [], queue: [this.entryInfo(shown.entry)] })
        return send({ type: 'done' })
      }
      case 'who': {
        const leases = engine.listLeases(body.place ? { place: this.placeId(body.place) } : {})
        const queue = engine.listQueue(body.place ? { place: this.placeId(body.place) } : {})
        return send({
          type: 'list',
          leases: leases.map((l) => this.leaseInfo(l)),
          queue: queue.map((q) => this.entryInfo(q)),
        })
      }
      case 'kick': {
        authorize(principal, { action: 'admin' })
        const lease = await run((e) => e.kick(body.leaseId, this.now(), { by: user, note: body.reason }))
        return send({ type: 'lease', lease: this.leaseInfo(lease) })
      }
      case 'maintenance': {
        authorize(principal, { action: 'admin' })
        await run((e) =>
          e.setMaintenance(this.placeId(body.place), body.on, this.now(), { by: user, note: body.reason }),
        )
        return send({ type: 'done' })
      }
      case 'grant': {
        authorize(principal, { action: 'admin' })
        const [kind, name] = splitSubject(body.subject)
        const grant = await run((e) =>
          e.grant(
            {
              subject: kind === 'user' ? { user: name } : { group: name },
              target:
                body.place !== undefined ? { place: this.placeId(body.place) } : { tag: body.tag as string },
              start: body.startsAtMs,
              end: body.endsAtMs,
              by: user,
            },
            this.now(),
          ),
        )
        return send({ type: 'granted', id: grant.id })
      }
      case 'revoke': {
        authorize(principal, { action: 'admin' })
        const shown = engine.show(body.id)
        if (shown?.kind === 'lease') {
          await run((e) => e.kick(body.id, this.now(), { by: user, note: body.reason || 'revoked' }))
        } else {
          await run((e) => e.revoke(body.id, this.now(), { by: user }))
        }
        return send({ type: 'done' })
      }
      case 'join-token': {
        authorize(principal, { action: 'admin' })
        const { token, expiresAt } = this.init.enrollment.issue(
          body.exporter,
          body.validMs || DEFAULT_JOIN_TOKEN_MS,
          user,
        )
        this.log.info('join token issued', { exporter: body.exporter, by: user })
        return send({ type: 'join-token', token, expiresAtMs: expiresAt })
      }
    }
  }

  /** An enrolled exporter's standing stream: the JWKS, then every lease end on its places. */
  private watch(peer: PeerId, send: Send, stream: Stream): Promise<void> {
    const entry = this.init.registry.lookup(peer.toString())
    if (!entry) {
      throw new ReservationError(
        'ERR_NOT_FOUND',
        'register with the hub before watching for revocations (an enrolled exporter registers first)',
      )
    }
    const prefix = `${entry.name}/`
    return new Promise<void>((resolve, reject) => {
      let done = false
      const finish = (error?: unknown) => {
        if (done) return
        done = true
        unsubscribe()
        stream.removeEventListener('close', onClose)
        if (error) reject(error)
        else resolve()
      }
      const onEvents = (events: readonly EngineEvent[]) => {
        for (const event of events) {
          if (!('lease' in event) || !event.lease.place.startsWith(prefix)) continue
          if (event.type === 'lease-ended') {
            send({ type: 'revoked', leaseId: event.lease.id, reason: event.reason }).catch(finish)
          } else if (event.type === 'lease-renewed') {
            // Tunnels of a renewed lease live on to its new end.
            send({ type: 'lease', lease: this.leaseInfo(event.lease) }).catch(finish)
          }
        }
      }
      const onClose = () => finish()
      const unsubscribe = this.init.reservations.subscribe(onEvents)
      stream.addEventListener('close', onClose)
      this.log.info('exporter watching', { exporter: entry.name, peer: peer.toString() })
      void (async () => {
        await send({ type: 'jwks', json: JSON.stringify(publicJwks([...this.init.signingKeys()])) })
        // Leases that ended while the exporter was away (restarted, cut off): their tokens may
        // still be unexpired, so it must hear of them too.
        const ended = await this.init.reservations.store.audit({
          types: ['lease-ended'],
          since: this.now() - CAPABILITY_LIFETIME_MS,
          limit: 100_000,
        })
        for (const { event } of ended) {
          if (event.type === 'lease-ended' && event.lease.place.startsWith(prefix)) {
            await send({ type: 'revoked', leaseId: event.lease.id, reason: event.reason })
          }
        }
      })().catch(finish)
    })
  }

  private async authenticate(login: string): Promise<{ principal: Principal; identity: VerifiedIdentity }> {
    if (!login) {
      throw new AuthError('ERR_TOKEN_MISSING', 'this request needs a login; run tether login HUB first')
    }
    const identity = await this.init.verifier.verify(login)
    return { principal: evaluate(this.init.policy, identity.claims), identity }
  }

  /** Wait in the queue: progress on every change of position, then the lease (or a refusal). */
  private waitInQueue(entry: QueueEntry, send: Send, stream: Stream): Promise<void> {
    const engine = this.init.reservations.engine
    return new Promise<void>((resolve, reject) => {
      let lastPosition = 0
      let done = false
      const finish = (error?: unknown) => {
        if (done) return
        done = true
        unsubscribe()
        stream.removeEventListener('close', onClose)
        if (error) reject(error)
        else resolve()
      }
      const report = () => {
        const position = engine.position(entry.id)
        if (!position || position.overall === lastPosition) return
        lastPosition = position.overall
        send({ type: 'progress', entry: this.entryInfo(entry) }).catch(finish)
      }
      const onEvents = (events: readonly EngineEvent[]) => {
        for (const event of events) {
          if (event.type === 'lease-started' && event.lease.queueId === entry.id) {
            send({ type: 'lease', lease: this.leaseInfo(event.lease) }).then(() => finish(), finish)
            return
          }
          if (event.type === 'dequeued' && event.entry.id === entry.id && event.reason !== 'served') {
            finish(new ReservationError('ERR_NOT_FOUND', `your place in the queue ended (${event.reason})`))
            return
          }
        }
        report()
      }
      // The importer went away (or the hub stops): the entry keeps its place. A lost connection
      // must not cost a place in the queue; `return` with the entry's id gives it up.
      const onClose = () => finish()
      const unsubscribe = this.init.reservations.subscribe(onEvents)
      stream.addEventListener('close', onClose)
      report()
    })
  }

  private async capability(principal: Principal, leaseId: string, peer: PeerId): Promise<HubResponse> {
    const engine = this.init.reservations.engine
    const lease = engine.listLeases({ user: principal.name }).find((l) => l.id === leaseId)
    if (!lease) throw new ReservationError('ERR_NOT_FOUND', `you hold no lease ${leaseId}; see tether list`)
    const [exporterName, placeName] = splitPlaceId(lease.place)
    const access = authorize(principal, {
      action: 'attach',
      place: placeName,
      placeTags: this.exporterEntry(exporterName)?.places.find((p) => p.name === placeName)?.tags ?? [],
    })
    const holder = { peer: peer.toString(), user: principal.name, rights: [...access.rights] }
    this.capabilityHolders.set(lease.id, holder)
    return this.signFor(lease, holder, peer)
  }

  /**
   * A fresh capability for the peer that already holds one for this lease, without a login:
   * an agent keeps its attachments past its user's login token. Lost on a hub restart (then the
   * agent asks with a login again).
   */
  private renewCapability(leaseId: string, peer: PeerId): Promise<HubResponse> {
    const holder = this.capabilityHolders.get(leaseId)
    const lease = this.init.reservations.engine.listLeases().find((l) => l.id === leaseId)
    if (!lease || !holder || holder.peer !== peer.toString() || holder.user !== lease.user) {
      throw new AuthError(
        'ERR_TOKEN_MISSING',
        `no capability for lease ${leaseId} was given to this peer; ask with a login (tether attach after tether login)`,
      )
    }
    return this.signFor(lease, holder, peer)
  }

  private async signFor(lease: Lease, holder: CapabilityHolder, peer: PeerId): Promise<HubResponse> {
    const [exporterName, placeName] = splitPlaceId(lease.place)
    const exporter = this.exporterEntry(exporterName)
    if (!exporter) {
      throw new ReservationError(
        'ERR_NOT_FOUND',
        `exporter ${exporterName} is not registered now; try again when it is back`,
      )
    }
    const now = this.now()
    const expiresAt = Math.min(lease.expiresAt, now + CAPABILITY_LIFETIME_MS)
    const token = await signCapability(
      {
        iss: this.init.issuer,
        sub: holder.user,
        aud: exporter.peerId,
        place: placeName,
        parts: [...lease.parts],
        rights: [...holder.rights],
        nbf: Math.floor(now / 1000),
        exp: Math.floor(expiresAt / 1000),
        rid: lease.id,
        cnf: cnfForPeer(peer),
      },
      newestSigningKey([...this.init.signingKeys()]),
      { now: () => new Date(now) },
    )
    return { type: 'capability', token, expiresAtMs: expiresAt }
  }

  private resolveTarget(
    body: Extract<HubRequest['body'], { type: 'reserve' }>,
  ):
    | { kind: 'place'; place: { name: string; tags: readonly string[] }; engineTarget: ReservationTarget }
    | { kind: 'spec'; engineTarget: ReservationTarget } {
    if (body.place !== undefined) {
      const id = this.placeId(body.place)
      const [exporterName, name] = splitPlaceId(id)
      const tags = this.exporterEntry(exporterName)?.places.find((p) => p.name === name)?.tags ?? []
      return { kind: 'place', place: { name, tags }, engineTarget: { place: id } }
    }
    return {
      kind: 'spec',
      engineTarget: {
        spec: {
          tags: [...body.tags],
          parts: body.parts.map((p) => ({
            compatible: [...p.compatible],
            interfaces: p.interfaces.filter((i): i is 'usb' | 'serial' => i === 'usb' || i === 'serial'),
          })),
        },
      },
    }
  }

  /** "exporter/place", from either that or a bare place name only one exporter has. */
  private placeId(text: string): string {
    if (text.includes('/')) return text
    const holders = this.init.registry.query({ place: text })
    if (holders.length === 1) return `${(holders[0] as DirectoryEntry).name}/${text}`
    if (holders.length > 1) {
      throw new ReservationError(
        'ERR_BAD_REQUEST',
        `place ${text} exists at ${holders.map((h) => h.name).join(', ')}; name it as EXPORTER/${text}`,
      )
    }
    // Not registered now: leases and grants may still name it; the engine knows.
    const known = this.init.reservations.engine.listLeases().find((l) => splitPlaceId(l.place)[1] === text)
    if (known) return known.place
    throw new ReservationError('ERR_NOT_FOUND', `no exporter has place ${text} now; see tether places`)
  }

  private placeAccessArgs(placeId: string): { place: string; placeTags: readonly string[] } {
    const [exporterName, name] = splitPlaceId(placeId)
    const tags = this.exporterEntry(exporterName)?.places.find((p) => p.name === name)?.tags ?? []
    return { place: name, placeTags: tags }
  }

  private exporterEntry(name: string): DirectoryEntry | undefined {
    return this.init.registry.lookupName(name)
  }

  private leaseInfo(lease: Lease): LeaseInfo {
    const [exporter, place] = splitPlaceId(lease.place)
    return {
      id: lease.id,
      user: lease.user,
      exporter,
      exporterPeerId: this.exporterEntry(exporter)?.peerId ?? '',
      place,
      parts: [...lease.parts],
      priority: lease.priority,
      startsAtMs: lease.startedAt,
      expiresAtMs: lease.expiresAt,
      renewals: lease.renewals,
    }
  }

  private entryInfo(entry: QueueEntry): QueueEntryInfo {
    const position = this.init.reservations.engine.position(entry.id)
    return {
      id: entry.id,
      user: entry.user,
      priority: entry.priority,
      position: position?.overall ?? 0,
      enqueuedAtMs: entry.enqueuedAt,
      wanted: 'place' in entry.target ? entry.target.place : describeSpec(entry.target.spec),
    }
  }
}

function splitPlaceId(id: string): [string, string] {
  const slash = id.indexOf('/')
  return slash < 0 ? ['', id] : [id.slice(0, slash), id.slice(slash + 1)]
}

function splitSubject(subject: string): ['user' | 'group', string] {
  const colon = subject.indexOf(':')
  return [subject.slice(0, colon) === 'group' ? 'group' : 'user', subject.slice(colon + 1)]
}

function shownUser(shown: { kind: 'lease'; lease: Lease } | { kind: 'queued'; entry: QueueEntry }): string {
  return shown.kind === 'lease' ? shown.lease.user : shown.entry.user
}

function describeSpec(spec: {
  tags?: readonly string[]
  parts?: readonly { compatible?: readonly string[] }[]
}): string {
  const tags = spec.tags?.length ? `tags ${spec.tags.join(',')}` : ''
  const parts = spec.parts?.length
    ? `parts ${spec.parts.map((p) => p.compatible?.join('+') ?? '*').join(' ')}`
    : ''
  return [tags, parts].filter(Boolean).join('; ') || 'any place'
}

/** Errors whose message is for the user (their code goes on the wire); undefined: internal. */
function describeFailure(err: unknown): { code: string; message: string } | undefined {
  if (isAuthError(err) || isReservationError(err) || isHubError(err) || isNetError(err)) {
    const known = err as Error & { code: string }
    return { code: known.code, message: known.message }
  }
  return undefined
}
