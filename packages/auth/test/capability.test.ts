import assert from 'node:assert/strict'
import { generateKeyPairSync, sign as nodeSign } from 'node:crypto'
import { describe, test } from 'node:test'
import { CompactSign, exportJWK } from 'jose'
import {
  type CapabilityClaims,
  cnfForPeer,
  generateSigningKey,
  hasRight,
  JwksCache,
  requireRight,
  signCapability,
  verifyCapability,
} from '../src/index.js'
import {
  b64,
  claimsFor,
  decodeSegment,
  EXPORTER,
  ed25519Raw,
  frozen,
  hs256,
  NOW_S,
  newHub,
  newPeer,
  OTHER_EXPORTER,
  rejectsWith,
  signRaw,
  verifyOptions,
} from './helpers.js'

describe('capability round trip', () => {
  test('a hub-signed token verifies at the exporter and yields the typed claims', async () => {
    const hub = await newHub()
    const token = await signCapability(claimsFor(hub.importer), hub.key)
    const [head] = token.split('.')
    assert.deepEqual(decodeSegment(head!), { alg: 'EdDSA', typ: 'tether-cap+jwt', kid: hub.key.kid })
    const claims = await verifyCapability(token, verifyOptions(hub, { place: 'lab/bench-3' }))
    assert.equal(claims.sub, 'alice@example.org')
    assert.equal(claims.aud, EXPORTER)
    assert.deepEqual(claims.rights, ['usb.attach', 'serial.rw'])
    assert.deepEqual(claims.parts, ['nucleo-f4', 'uart0'])
    assert.equal(claims.cnf.jwk.x, Buffer.from(hub.importer.raw).toString('base64url'))
  })

  test('signCapability fills iat from the clock and a random jti', async () => {
    const hub = await newHub()
    const { iat: _iat, jti: _jti, ...rest } = claimsFor(hub.importer)
    const token = await signCapability(rest, hub.key, { now: frozen() })
    const payload = decodeSegment(token.split('.')[1]!)
    assert.equal(payload.iat, NOW_S)
    assert.match(String(payload.jti), /^[0-9a-f-]{36}$/)
    await verifyCapability(token, verifyOptions(hub))
  })

  test('tokens within the clock tolerance of nbf/exp still verify', async () => {
    const hub = await newHub()
    const token = await signCapability(claimsFor(hub.importer, { nbf: NOW_S + 4, iat: NOW_S + 4 }), hub.key)
    await verifyCapability(token, verifyOptions(hub))
    const ending = await signCapability(claimsFor(hub.importer, { exp: NOW_S - 4 }), hub.key)
    await verifyCapability(ending, verifyOptions(hub))
  })

  test('cnfForPeer takes a PeerId-like object or raw bytes, and refuses non-Ed25519 peers', () => {
    const peer = newPeer()
    assert.deepEqual(cnfForPeer({ publicKey: { type: 'Ed25519', raw: peer.raw } }), cnfForPeer(peer.raw))
    assert.throws(() => cnfForPeer({ publicKey: { type: 'secp256k1', raw: new Uint8Array(33) } }), {
      code: 'ERR_KEY_INVALID',
    })
    assert.throws(() => cnfForPeer(new Uint8Array(31)), { code: 'ERR_KEY_INVALID' })
  })
})

describe('capability refusals: token format and algorithm', () => {
  test('no token → ERR_TOKEN_MISSING', async () => {
    const hub = await newHub()
    await rejectsWith(verifyCapability('', verifyOptions(hub)), 'ERR_TOKEN_MISSING')
    await rejectsWith(verifyCapability(undefined, verifyOptions(hub)), 'ERR_TOKEN_MISSING')
  })

  test('truncated token (signature cut off) → ERR_TOKEN_MALFORMED', async () => {
    const hub = await newHub()
    const token = await signCapability(claimsFor(hub.importer), hub.key)
    const truncated = token.slice(0, token.lastIndexOf('.'))
    await rejectsWith(
      verifyCapability(truncated, verifyOptions(hub)),
      'ERR_TOKEN_MALFORMED',
      /3 of a compact JWS/,
    )
    await rejectsWith(verifyCapability(token.slice(0, 20), verifyOptions(hub)), 'ERR_TOKEN_MALFORMED')
  })

  test('garbage header, five-part JWE shape, oversize and non-JSON payload → ERR_TOKEN_MALFORMED', async () => {
    const hub = await newHub()
    const options = verifyOptions(hub)
    await rejectsWith(verifyCapability(`${b64('not json')}.${b64({})}.c2ln`, options), 'ERR_TOKEN_MALFORMED')
    await rejectsWith(verifyCapability('a.b.c.d.e', options), 'ERR_TOKEN_MALFORMED')
    await rejectsWith(verifyCapability(`${'a'.repeat(9000)}.b.c`, options), 'ERR_TOKEN_MALFORMED')
    await rejectsWith(verifyCapability('ey$$.abc.def', options), 'ERR_TOKEN_MALFORMED', /base64url/)
    // Correctly signed by the hub, but the payload is not JSON.
    await rejectsWith(verifyCapability(await signRaw('hello', hub.key), options), 'ERR_TOKEN_MALFORMED')
    // Correctly signed, but a registered claim is missing.
    const { exp: _exp, ...noExp } = claimsFor(hub.importer)
    await rejectsWith(verifyCapability(await signRaw(noExp, hub.key), options), 'ERR_TOKEN_MALFORMED', /exp/)
  })

  test('alg none (unsigned token) → ERR_TOKEN_ALGORITHM', async () => {
    const hub = await newHub()
    const payload = claimsFor(hub.importer, { rights: ['usb.attach', 'serial.rw', 'power'] })
    for (const alg of ['none', 'None', 'NONE']) {
      const token = `${b64({ alg, typ: 'tether-cap+jwt', kid: hub.key.kid })}.${b64(payload)}.`
      await rejectsWith(verifyCapability(token, verifyOptions(hub)), 'ERR_TOKEN_ALGORITHM', /alg/)
    }
    const noAlg = `${b64({ typ: 'tether-cap+jwt', kid: hub.key.kid })}.${b64(payload)}.`
    await rejectsWith(verifyCapability(noAlg, verifyOptions(hub)), 'ERR_TOKEN_ALGORITHM', /alg none/)
  })

  test('HS256 signed with the hub public key as HMAC secret (key confusion) → ERR_TOKEN_ALGORITHM', async () => {
    const hub = await newHub()
    const payload = claimsFor(hub.importer, { rights: ['usb.attach', 'serial.rw', 'power'] })
    const jwk = hub.key.publicJwk
    const spkiPem = (await import('node:crypto'))
      .createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: jwk.x }, format: 'jwk' })
      .export({ format: 'pem', type: 'spki' })
      .toString()
    // Every public form of the key an attacker could try as the HMAC secret.
    const secrets: (string | Uint8Array)[] = [
      Buffer.from(jwk.x, 'base64url'),
      jwk.x,
      JSON.stringify(jwk),
      JSON.stringify({ keys: [jwk] }),
      spkiPem,
    ]
    for (const secret of secrets) {
      for (const alg of ['HS256', 'HS384', 'HS512']) {
        const token = hs256({ alg, typ: 'tether-cap+jwt', kid: hub.key.kid }, payload, secret)
        await rejectsWith(verifyCapability(token, verifyOptions(hub)), 'ERR_TOKEN_ALGORITHM', /HMAC/)
      }
    }
    // Same MAC but the header lies that it is EdDSA: the Ed25519 key rejects the MAC as a signature.
    const lying = hs256({ alg: 'EdDSA', typ: 'tether-cap+jwt', kid: hub.key.kid }, payload, jwk.x)
    await rejectsWith(verifyCapability(lying, verifyOptions(hub)), 'ERR_TOKEN_SIGNATURE')
  })

  test('other asymmetric algorithms (ES256, RS256, fully-specified Ed25519) → ERR_TOKEN_ALGORITHM', async () => {
    const hub = await newHub()
    const payload = claimsFor(hub.importer)
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' })
    const input = `${b64({ alg: 'ES256', typ: 'tether-cap+jwt', kid: hub.key.kid })}.${b64(payload)}`
    const es256 = `${input}.${nodeSign('sha256', Buffer.from(input), { key: ec.privateKey, dsaEncoding: 'ieee-p1363' }).toString('base64url')}`
    await rejectsWith(verifyCapability(es256, verifyOptions(hub)), 'ERR_TOKEN_ALGORITHM', /ES256/)
    const rs = await new CompactSign(new TextEncoder().encode(JSON.stringify(payload)))
      .setProtectedHeader({ alg: 'RS256', typ: 'tether-cap+jwt', kid: hub.key.kid })
      .sign(generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey)
    await rejectsWith(verifyCapability(rs, verifyOptions(hub)), 'ERR_TOKEN_ALGORITHM', /RS256/)
    // Signed by the hub's real key but labelled with the RFC 9864 name: still not the pinned alg.
    const ed = await signRaw(payload, hub.key, { alg: 'Ed25519' })
    await rejectsWith(verifyCapability(ed, verifyOptions(hub)), 'ERR_TOKEN_ALGORITHM')
  })

  test('wrong typ (another JWT signed by the same key) → ERR_TOKEN_TYPE', async () => {
    const hub = await newHub()
    const payload = claimsFor(hub.importer)
    for (const typ of ['JWT', 'at+jwt', undefined]) {
      const token = await signRaw(payload, hub.key, { typ })
      await rejectsWith(verifyCapability(token, verifyOptions(hub)), 'ERR_TOKEN_TYPE')
    }
  })

  test('critical header extensions and a missing kid → ERR_TOKEN_MALFORMED', async () => {
    const hub = await newHub()
    const payload = claimsFor(hub.importer)
    const critical = await new CompactSign(new TextEncoder().encode(JSON.stringify(payload)))
      .setProtectedHeader({
        alg: 'EdDSA',
        typ: 'tether-cap+jwt',
        kid: hub.key.kid,
        crit: ['x-ext'],
        'x-ext': 1,
      })
      .sign(hub.key.privateKey, { crit: { 'x-ext': true } })
    await rejectsWith(verifyCapability(critical, verifyOptions(hub)), 'ERR_TOKEN_MALFORMED', /critical/)
    const noKid = await signRaw(payload, hub.key, { kid: undefined })
    await rejectsWith(verifyCapability(noKid, verifyOptions(hub)), 'ERR_TOKEN_MALFORMED', /kid/)
  })
})

describe('capability refusals: signature', () => {
  test('tampered payload (one byte changed, signature kept) → ERR_TOKEN_SIGNATURE', async () => {
    const hub = await newHub()
    const token = await signCapability(claimsFor(hub.importer), hub.key)
    const [head, payload, signature] = token.split('.') as [string, string, string]
    const bytes = Buffer.from(payload, 'base64url')
    const at = bytes.indexOf('serial.rw')
    bytes.write('serial.ro', at) // a downgrade is still a tamper: no edit at all is acceptable
    const tampered = `${head}.${bytes.toString('base64url')}.${signature}`
    await rejectsWith(verifyCapability(tampered, verifyOptions(hub)), 'ERR_TOKEN_SIGNATURE', /tampered/)
    // And privilege escalation by re-encoding the claims.
    const escalated = { ...decodeSegment(payload), rights: ['usb.attach', 'serial.rw', 'power'] }
    await rejectsWith(
      verifyCapability(`${head}.${b64(escalated)}.${signature}`, verifyOptions(hub)),
      'ERR_TOKEN_SIGNATURE',
    )
  })

  test('tampered signature byte → ERR_TOKEN_SIGNATURE', async () => {
    const hub = await newHub()
    const token = await signCapability(claimsFor(hub.importer), hub.key)
    const [head, payload, signature] = token.split('.') as [string, string, string]
    const sig = Buffer.from(signature, 'base64url')
    sig[10] = sig[10]! ^ 0x01
    await rejectsWith(
      verifyCapability(`${head}.${payload}.${sig.toString('base64url')}`, verifyOptions(hub)),
      'ERR_TOKEN_SIGNATURE',
    )
    await rejectsWith(verifyCapability(`${head}.${payload}.`, verifyOptions(hub)), 'ERR_TOKEN_SIGNATURE')
  })

  test('signed by a foreign key claiming the hub kid → ERR_TOKEN_SIGNATURE', async () => {
    const hub = await newHub()
    const attacker = newPeer()
    const header = { alg: 'EdDSA', typ: 'tether-cap+jwt', kid: hub.key.kid }
    const token = ed25519Raw(header, claimsFor(hub.importer), attacker.privateKey)
    await rejectsWith(verifyCapability(token, verifyOptions(hub)), 'ERR_TOKEN_SIGNATURE')
    // Embedding the attacker's key in the header (jwk / jku) changes nothing: header keys are never used.
    const attackerJwk = await exportJWK(attacker.privateKey)
    delete attackerJwk.d
    const embedded = ed25519Raw(
      { ...header, jwk: attackerJwk, jku: 'https://evil.example/jwks' },
      claimsFor(hub.importer),
      attacker.privateKey,
    )
    await rejectsWith(verifyCapability(embedded, verifyOptions(hub)), 'ERR_TOKEN_SIGNATURE')
  })

  test('signed by another hub (kid unknown to the cached JWKS) → ERR_TOKEN_SIGNATURE naming a stale copy', async () => {
    const hub = await newHub()
    const otherHub = await generateSigningKey()
    const token = await signCapability(claimsFor(hub.importer), otherHub)
    await rejectsWith(verifyCapability(token, verifyOptions(hub)), 'ERR_TOKEN_SIGNATURE', /stale/)
  })

  test('no JWKS cached yet → ERR_JWKS_UNAVAILABLE', async () => {
    const hub = await newHub()
    const token = await signCapability(claimsFor(hub.importer), hub.key)
    const empty = await JwksCache.inMemory()
    await rejectsWith(verifyCapability(token, verifyOptions(hub, { keys: empty })), 'ERR_JWKS_UNAVAILABLE')
  })
})

describe('capability refusals: claims', () => {
  test('foreign issuer → ERR_TOKEN_ISSUER', async () => {
    const hub = await newHub()
    const token = await signCapability(claimsFor(hub.importer, { iss: 'tether-hub:elsewhere' }), hub.key)
    await rejectsWith(verifyCapability(token, verifyOptions(hub)), 'ERR_TOKEN_ISSUER', /elsewhere/)
  })

  test('token for another exporter → ERR_TOKEN_AUDIENCE', async () => {
    const hub = await newHub()
    const token = await signCapability(claimsFor(hub.importer, { aud: OTHER_EXPORTER }), hub.key)
    await rejectsWith(verifyCapability(token, verifyOptions(hub)), 'ERR_TOKEN_AUDIENCE', /not this one/)
  })

  test('expired lease → ERR_TOKEN_EXPIRED', async () => {
    const hub = await newHub()
    const token = await signCapability(
      claimsFor(hub.importer, { nbf: NOW_S - 7200, iat: NOW_S - 7200, exp: NOW_S - 6 }),
      hub.key,
    )
    await rejectsWith(verifyCapability(token, verifyOptions(hub)), 'ERR_TOKEN_EXPIRED', /expired at/)
    // The same token an hour earlier was fine: the clock, not the token, decides.
    await verifyCapability(token, verifyOptions(hub, { now: frozen(NOW_S - 3600) }))
  })

  test('lease not started yet → ERR_TOKEN_NOT_YET_VALID', async () => {
    const hub = await newHub()
    const token = await signCapability(
      claimsFor(hub.importer, { nbf: NOW_S + 600, iat: NOW_S, exp: NOW_S + 3600 }),
      hub.key,
    )
    await rejectsWith(
      verifyCapability(token, verifyOptions(hub)),
      'ERR_TOKEN_NOT_YET_VALID',
      /not valid before/,
    )
    await verifyCapability(token, verifyOptions(hub, { now: frozen(NOW_S + 600) }))
  })

  test('issued in the future (hub clock ahead) → ERR_TOKEN_NOT_YET_VALID', async () => {
    const hub = await newHub()
    const token = await signCapability(claimsFor(hub.importer, { iat: NOW_S + 120 }), hub.key)
    await rejectsWith(verifyCapability(token, verifyOptions(hub)), 'ERR_TOKEN_NOT_YET_VALID')
  })

  test('revoked by jti or by reservation → ERR_TOKEN_REVOKED', async () => {
    const hub = await newHub()
    const token = await signCapability(claimsFor(hub.importer), hub.key)
    const seen: string[][] = []
    const byJti = (jti: string, rid: string) => {
      seen.push([jti, rid])
      return jti === 'tok-1'
    }
    await rejectsWith(verifyCapability(token, verifyOptions(hub, { isRevoked: byJti })), 'ERR_TOKEN_REVOKED')
    assert.deepEqual(seen, [['tok-1', 'res-1']])
    const byRid = async (_jti: string, rid: string) => rid === 'res-1'
    await rejectsWith(
      verifyCapability(token, verifyOptions(hub, { isRevoked: byRid })),
      'ERR_TOKEN_REVOKED',
      /res-1/,
    )
  })

  test('cnf missing (a bearer token) → ERR_TOKEN_BINDING', async () => {
    const hub = await newHub()
    const { cnf: _cnf, ...bearer } = claimsFor(hub.importer)
    await rejectsWith(
      verifyCapability(await signRaw(bearer, hub.key), verifyOptions(hub)),
      'ERR_TOKEN_BINDING',
    )
    const badCnf = { ...bearer, cnf: { jwk: { kty: 'EC', crv: 'P-256', x: 'abc' } } }
    await rejectsWith(
      verifyCapability(await signRaw(badCnf, hub.key), verifyOptions(hub)),
      'ERR_TOKEN_BINDING',
    )
  })

  test('token replayed by another peer (cnf ≠ noise-authenticated key) → ERR_TOKEN_BINDING', async () => {
    const hub = await newHub()
    const token = await signCapability(claimsFor(hub.importer), hub.key)
    const thief = newPeer()
    await rejectsWith(
      verifyCapability(token, verifyOptions(hub, { remotePublicKey: thief.raw })),
      'ERR_TOKEN_BINDING',
      /replayed/,
    )
    // A remote key that is not 32 bytes (e.g. a secp256k1 peer) can never match.
    await rejectsWith(
      verifyCapability(token, verifyOptions(hub, { remotePublicKey: hub.importer.raw.subarray(0, 31) })),
      'ERR_TOKEN_BINDING',
    )
  })

  test('token for another place when one is required → ERR_TOKEN_PLACE', async () => {
    const hub = await newHub()
    const token = await signCapability(claimsFor(hub.importer), hub.key)
    await rejectsWith(
      verifyCapability(token, verifyOptions(hub, { place: 'lab/bench-4' })),
      'ERR_TOKEN_PLACE',
      /bench-3/,
    )
  })

  test('rights/parts of invalid shape → ERR_TOKEN_CLAIMS', async () => {
    const hub = await newHub()
    const bad: Record<string, unknown>[] = [
      { rights: ['usb.attach', 'root'] },
      { rights: [] },
      { rights: 'usb.attach' },
      { rights: ['power', 'power'] },
      { parts: [] },
      { parts: 'uart0' },
      { parts: ['uart0', 7] },
      { parts: ['uart0', 'uart0'] },
      { parts: [''] },
      { place: '' },
    ]
    for (const override of bad) {
      const token = await signRaw({ ...claimsFor(hub.importer), ...override }, hub.key)
      await rejectsWith(verifyCapability(token, verifyOptions(hub)), 'ERR_TOKEN_CLAIMS')
    }
    // The hub side refuses to mint them in the first place.
    await rejectsWith(
      signCapability(claimsFor(hub.importer, { rights: ['root' as 'power'] }), hub.key),
      'ERR_TOKEN_CLAIMS',
    )
  })

  test('lifetime beyond the bound, or ending before it starts → ERR_TOKEN_LIFETIME', async () => {
    const hub = await newHub()
    const year = claimsFor(hub.importer, { exp: NOW_S + 365 * 86400 })
    await rejectsWith(
      verifyCapability(await signRaw(year, hub.key), verifyOptions(hub)),
      'ERR_TOKEN_LIFETIME',
    )
    // Backdating iat does not dodge the bound either.
    const backdated = claimsFor(hub.importer, { iat: NOW_S - 30 * 86400 })
    await rejectsWith(
      verifyCapability(await signRaw(backdated, hub.key), verifyOptions(hub)),
      'ERR_TOKEN_LIFETIME',
    )
    const inverted = claimsFor(hub.importer, { nbf: NOW_S + 10, exp: NOW_S + 10 })
    await rejectsWith(
      verifyCapability(await signRaw(inverted, hub.key), verifyOptions(hub)),
      'ERR_TOKEN_LIFETIME',
    )
    // The bound is configurable, and the hub refuses to sign past it.
    const token = await signCapability(claimsFor(hub.importer), hub.key)
    await rejectsWith(
      verifyCapability(token, verifyOptions(hub, { maxLifetimeS: 600 })),
      'ERR_TOKEN_LIFETIME',
    )
    await rejectsWith(signCapability(year, hub.key), 'ERR_TOKEN_LIFETIME')
  })
})

describe('requireRight', () => {
  const claims = {
    rights: ['usb.attach', 'serial.rw'],
    parts: ['nucleo-f4', 'uart0'],
    jti: 'tok-1',
  } as unknown as CapabilityClaims

  test('passes for granted rights and covered parts; serial.rw implies serial.ro', () => {
    requireRight(claims, 'usb.attach', 'nucleo-f4')
    requireRight(claims, 'serial.rw', 'uart0')
    requireRight(claims, 'serial.ro', 'uart0')
    requireRight(claims, 'usb.attach')
    assert.equal(hasRight(claims, 'power'), false)
  })

  test('a right not granted → ERR_TOKEN_SCOPE', () => {
    assert.throws(() => requireRight(claims, 'power', 'nucleo-f4'), { code: 'ERR_TOKEN_SCOPE' })
    const readOnly = { ...claims, rights: ['serial.ro'] } as unknown as CapabilityClaims
    assert.throws(() => requireRight(readOnly, 'serial.rw', 'uart0'), { code: 'ERR_TOKEN_SCOPE' })
  })

  test('a part not covered → ERR_TOKEN_SCOPE naming the part', () => {
    assert.throws(() => requireRight(claims, 'serial.rw', 'uart1'), {
      code: 'ERR_TOKEN_SCOPE',
      message: /part "uart1"/,
    })
  })
})
