/**
 * The hub's authority: the parts that exist only with [auth] in hub.toml — the SQLite state
 * (reservations, queue, grants, audit log, enrollment), the reservation engine kept in step with
 * the directory, enrollment checks on registration, and the control protocol.
 */
import { type HubConfig, IdTokenVerifier, type SigningKey, type VerifiedIdentity } from '@tether/auth'
import { capabilityIssuer } from '@tether/control'
import { DirectoryError, type DirectoryRegistry, type RegistryChange } from '@tether/directory'
import type { Logger, TetherNode } from '@tether/net'
import { serveHubControl } from './control/service.js'
import { Enrollment } from './enrollment/enrollment.js'
import { SqliteEnrollmentStore } from './enrollment/sqlite.js'
import { isHubError } from './errors.js'
import { placesOf } from './reservations/index.js'
import type { ReservationService } from './reservations/service.js'
import { openDatabase, openReservations } from './store/index.js'

export interface HubAuthInit {
  readonly policy: HubConfig
  /** SQLite file for reservations, queue, grants, audit log and enrollment (':memory:' in tests). */
  readonly database: string
  /** Capability signing keys, newest signs; all are published. */
  readonly signingKeys: readonly SigningKey[]
  /** Checks login tokens; default: an IdTokenVerifier over the policy's issuers. */
  readonly verifier?: { verify(token: string): Promise<VerifiedIdentity> }
  /** How often leases, queue deadlines and grant windows are looked at (default 1 s). */
  readonly tickMs?: number
}

export interface Authority {
  readonly reservations: ReservationService
  readonly enrollment: Enrollment
  /** `iss` of the capability tokens this hub signs. */
  readonly issuer: string
  /** Throws DirectoryError ERR_NOT_ADMITTED unless `peer` is enrolled under the registration's name. */
  admit(peer: string, registration: { readonly name: string }): void
  /** Start serving /tether/hub/1.0.0 and following the directory (once the node runs). */
  start(node: TetherNode, registry: DirectoryRegistry): Promise<void>
  stop(): Promise<void>
}

export function openAuthority(init: HubAuthInit, now: () => number, log: Logger): Authority {
  const db = openDatabase(init.database)
  const reservations = openReservations(db, now())
  const enrollment = new Enrollment(new SqliteEnrollmentStore(db), now)
  const verifier = init.verifier ?? new IdTokenVerifier({ issuers: init.policy.issuers, now })
  let issuer = ''
  let stopControl: (() => Promise<void>) | undefined
  let unsubscribe: (() => void) | undefined
  let timer: NodeJS.Timeout | undefined

  const run = (what: string, op: Parameters<ReservationService['run']>[0]) =>
    reservations
      .run(op)
      .catch((err: unknown) => log.error(`reservations: ${what} failed`, { error: (err as Error).message }))

  return {
    reservations,
    enrollment,
    get issuer() {
      return issuer
    },
    admit(peer, registration) {
      try {
        enrollment.check(registration.name, peer)
      } catch (err) {
        if (!isHubError(err)) throw err
        throw new DirectoryError('ERR_NOT_ADMITTED', err.message, { origin: 'local', details: err.details })
      }
    },
    async start(node, registry) {
      issuer = capabilityIssuer(node.peerId.toString())
      // The engine knows the places the directory knows.
      for (const entry of registry.entries()) {
        void run('sync', (e) => e.syncExporter(entry.name, placesOf(entry), now()))
      }
      unsubscribe = registry.subscribe((change: RegistryChange) => {
        const entry = change.entry
        if (change.type === 'unregistered' || change.type === 'expired') {
          void run('remove exporter', (e) => e.removeExporter(entry.name, now()))
        } else {
          void run('sync exporter', (e) => e.syncExporter(entry.name, placesOf(entry), now()))
        }
      })
      timer = setInterval(() => void run('tick', (e) => e.tick(now())), init.tickMs ?? 1000)
      timer.unref()
      const control = await serveHubControl({
        node,
        policy: init.policy,
        verifier,
        reservations,
        registry,
        signingKeys: () => init.signingKeys,
        enrollment,
        issuer,
        now,
        logger: log,
      })
      stopControl = control.stop
    },
    async stop() {
      if (timer) clearInterval(timer)
      unsubscribe?.()
      await stopControl?.().catch(() => {})
      await reservations.store.close()
    },
  }
}
