import { generateKeyPair, type JWTPayload, SignJWT } from 'jose'
import type { Credentials } from '../src/credentials.js'
import type { Clock } from '../src/deps.js'
import type { CredentialStore } from '../src/store/store.js'

export function fakeClock(startMs: number): Clock & { advance(ms: number): void } {
  let now = startMs
  return {
    now: () => now,
    advance(ms) {
      now += ms
    },
  }
}

const keys = generateKeyPair('RS256')

/** An RS256-signed JWT (openid-client checks the shape and claims of ID tokens, the hub the signature). */
export async function makeJwt(claims: JWTPayload): Promise<string> {
  return new SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid: 'k1' }).sign((await keys).privateKey)
}

export function memoryStore(): CredentialStore & { entries: Map<string, Credentials> } {
  const entries = new Map<string, Credentials>()
  return {
    kind: 'file',
    location: 'memory',
    entries,
    get: async (key) => entries.get(key),
    set: async (key, c) => {
      entries.set(key, c)
    },
    delete: async (key) => entries.delete(key),
  }
}

export async function credentialsExpiringAt(
  expS: number,
  extra: Partial<Credentials> = {},
): Promise<Credentials> {
  return {
    version: 1,
    method: 'browser',
    issuer: 'https://idp.example.test',
    clientId: 'tether-cli',
    idToken: await makeJwt({
      iss: 'https://idp.example.test',
      sub: 'alice',
      aud: 'tether-cli',
      exp: expS,
      groups: ['g1'],
    }),
    expiresAt: expS,
    refreshToken: 'rt-1',
    ...extra,
  }
}
