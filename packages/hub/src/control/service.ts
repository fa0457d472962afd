/**
 * The hub's control protocol, /tether/hub/1.0.0: who is asking (the OIDC token, checked against
 * hub.toml), what they may do (the policy), and the reservation engine that does it. Capability
 * tokens are signed here and bound to the noise-authenticated peer that asks for them.
 */
import type { Connection, PeerId, Stream } from '@libp2p/interface'
import {
  AuthError,
  authorize,
  evaluate,
  type HubConfig,
  isAuthError,
  type Principal,
  publicJwks,
  type SigningKey,
  type VerifiedIdentity,
} from '@tether/auth'
import {
  DEFAULT_LEASE_MS,
  HUB_PROTOCOL,
  type HubRequest,
  HubRequestCodec,
  HubResponseCodec,
  MAX_LOGIN_TOKEN,
} from '@tether/control'
import type { DirectoryRegistry } from '@tether/directory'
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
import type { Lease, QueueEntry } from '../reservations/types.js'
import { type AdminContext, answerAdmin, isAdminRequest } from './admin.js'
import { CapabilityDesk } from './capabilities.js'
import { RefusalBudget } from './refusal-budget.js'
import { type Send, type StreamContext, waitInQueue, watchForExporter } from './streams.js'
import { HubView } from './view.js'

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

class HubControl {
  private readonly log: Logger
  private readonly now: () => number
  private readonly view: HubView
  private readonly capabilities: CapabilityDesk
  private readonly refusals = new RefusalBudget()
  private readonly streams: StreamContext
  private readonly admin: AdminContext

  constructor(private readonly init: HubControlInit) {
    this.log = (init.logger ?? silentLogger).child('hub:control')
    this.now = init.now ?? Date.now
    const engine = init.reservations.engine
    this.view = new HubView(init.registry, engine)
    this.capabilities = new CapabilityDesk({
      engine,
      reservations: init.reservations,
      view: this.view,
      signingKeys: init.signingKeys,
      issuer: init.issuer,
      now: this.now,
    })
    this.streams = {
      registry: init.registry,
      reservations: init.reservations,
      view: this.view,
      signingKeys: init.signingKeys,
      log: this.log,
      now: this.now,
    }
    this.admin = {
      reservations: init.reservations,
      view: this.view,
      enrollment: init.enrollment,
      log: this.log,
      now: this.now,
    }
  }

  close(): void {
    this.capabilities.close()
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
      // Login and policy refusals go to the audit log too (the engine records its own), within a
      // budget per peer.
      if (request && isAuthError(err)) await this.auditRefusal(request, peer, err, { code, message })
      await send({ type: 'failure', code, message }).catch(() => {})
    }
    await stream.close().catch(() => stream.abort(new Error('closing')))
  }

  private async auditRefusal(
    request: HubRequest,
    peer: PeerId,
    err: AuthError,
    failure: { code: string; message: string },
  ): Promise<void> {
    const decision = this.refusals.take(peer.toString(), this.now())
    if (!decision.record) return
    const place = 'place' in request.body ? request.body.place : undefined
    const user = err.details.principal
    const left = decision.suppressed
    await this.init.reservations
      .run((e) =>
        e.recordRefusal(this.now(), {
          request: request.body.type,
          code: failure.code,
          message:
            left > 0
              ? `${failure.message} (${left} earlier refusals of this peer not recorded)`
              : failure.message,
          peer: peer.toString(),
          ...(typeof user === 'string' ? { user } : {}),
          ...(place ? { place } : {}),
        }),
      )
      .catch(() => {})
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
    if (body.type === 'watch') return watchForExporter(this.streams, peer, send, stream)
    if (body.type === 'capability' && request.login === '') {
      return send(await this.capabilities.renew(body.leaseId, peer, body.previous))
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
    if (isAdminRequest(body)) {
      authorize(principal, { action: 'admin' })
      return answerAdmin(this.admin, body, user, send)
    }
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
        const target = this.view.resolveTarget(body)
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
        if (result.kind === 'lease') return send({ type: 'lease', lease: this.view.leaseInfo(result.lease) })
        return waitInQueue(this.streams, result.entry, send, stream)
      }
      case 'return': {
        if (engine.show(body.id)?.kind === 'queued') {
          // Not `progress` (that means "keep waiting"): the entry, out of the queue, in a list.
          const info = this.view.entryInfo(
            engine.listQueue({ user }).find((q) => q.id === body.id) as QueueEntry,
          )
          await run((e) => e.cancel(body.id, user, this.now()))
          return send({ type: 'list', leases: [], queue: [{ ...info, position: 0 }] })
        }
        const lease = await run((e) => e.returnLease(body.id, user, this.now()))
        return send({ type: 'lease', lease: this.view.leaseInfo(lease) })
      }
      case 'renew': {
        const current = engine.listLeases({ user }).find((l) => l.id === body.id)
        if (!current)
          throw new ReservationError('ERR_NOT_FOUND', `you hold no lease ${body.id}; see tether list`)
        const access = authorize(principal, {
          action: 'reserve',
          ...this.view.placeAccessArgs(current.place),
        })
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
        return send({ type: 'lease', lease: this.view.leaseInfo(lease) })
      }
      case 'capability':
        return send(await this.capabilities.issue(principal, body.leaseId, peer))
      case 'list': {
        if (body.all) authorize(principal, { action: 'admin' })
        const filter = body.all ? {} : { user }
        return send({
          type: 'list',
          leases: engine.listLeases(filter).map((l) => this.view.leaseInfo(l)),
          queue: engine.listQueue(filter).map((q) => this.view.entryInfo(q)),
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
        if (shown.kind === 'lease') return send({ type: 'lease', lease: this.view.leaseInfo(shown.lease) })
        if (shown.kind === 'queued')
          return send({ type: 'list', leases: [], queue: [this.view.entryInfo(shown.entry)] })
        return send({ type: 'done' })
      }
      case 'who': {
        const admin = principal.roles.includes('admin')
        const place = body.place ? this.view.placeId(body.place) : undefined
        // Naming a place one may not use is refused with the rules that would allow it.
        if (place && !admin) authorize(principal, { action: 'reserve', ...this.view.placeAccessArgs(place) })
        const sees = (placeId: string) => admin || this.view.mayUse(principal, placeId)
        const filter = place ? { place } : {}
        return send({
          type: 'list',
          leases: engine
            .listLeases(filter)
            .filter((l) => l.user === user || sees(l.place))
            .map((l) => this.view.leaseInfo(l)),
          queue: engine
            .listQueue(filter)
            .filter((q) => q.user === user || ('place' in q.target && sees(q.target.place)))
            .map((q) => this.view.entryInfo(q)),
        })
      }
      case 'place-states': {
        const admin = principal.roles.includes('admin')
        const now = this.now()
        return send({
          type: 'place-states',
          states: body.places.map((id) =>
            this.view.placeState(engine.who(id, now), admin || this.view.mayUse(principal, id)),
          ),
        })
      }
    }
  }

  private async authenticate(login: string): Promise<{ principal: Principal; identity: VerifiedIdentity }> {
    if (!login) {
      throw new AuthError('ERR_TOKEN_MISSING', 'this request needs a login; run tether login HUB first')
    }
    const identity = await this.init.verifier.verify(login)
    return { principal: evaluate(this.init.policy, identity.claims), identity }
  }
}

function shownUser(shown: { kind: 'lease'; lease: Lease } | { kind: 'queued'; entry: QueueEntry }): string {
  return shown.kind === 'lease' ? shown.lease.user : shown.entry.user
}

/** Errors whose message is for the user (their code goes on the wire); undefined: internal. */
function describeFailure(err: unknown): { code: string; message: string } | undefined {
  if (isAuthError(err) || isReservationError(err) || isHubError(err) || isNetError(err)) {
    const known = err as Error & { code: string }
    return { code: known.code, message: known.message }
  }
  return undefined
}
