/**
 * The protobuf schemas (repo-root proto/), loaded at run time with protobufjs.
 *
 * How dist finds them: starting from this module's directory (packages/net/dist/src when built,
 * packages/net/src from source), walk up until a directory containing
 * proto/tether/v1/tunnel.proto is found, i.e. the repository root. A deployment that moves the
 * package elsewhere sets TETHER_PROTO_DIR (the directory holding tether/v1/...).
 */
import { existsSync, readdirSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import protobuf from 'protobufjs'
import { NetError } from './errors.js'

const ENTRY = join('tether', 'v1', 'tunnel.proto')
const SCHEMA_DIR = join('tether', 'v1')

export function findProtoDir(start = dirname(fileURLToPath(import.meta.url))): string {
  const fromEnv = process.env.TETHER_PROTO_DIR
  if (fromEnv) {
    if (existsSync(join(fromEnv, ENTRY))) return resolve(fromEnv)
    throw schemaError(`TETHER_PROTO_DIR=${fromEnv} has no ${ENTRY}`)
  }
  let dir = resolve(start)
  for (;;) {
    const candidate = join(dir, 'proto')
    if (existsSync(join(candidate, ENTRY))) return candidate
    const parent = dirname(dir)
    if (parent === dir) break
    dir = parent
  }
  throw schemaError(`no proto/${ENTRY} above ${start}; set TETHER_PROTO_DIR to the proto directory`)
}

let cached: protobuf.Root | undefined

/** The loaded schema root: every .proto in proto/tether/v1 (loaded once, synchronously, on first use). */
export function tetherSchema(): protobuf.Root {
  if (cached) return cached
  const protoDir = findProtoDir()
  const root = new protobuf.Root()
  root.resolvePath = (_origin, target) => (target.startsWith('/') ? target : join(protoDir, target))
  try {
    const files = readdirSync(join(protoDir, SCHEMA_DIR))
      .filter((f) => f.endsWith('.proto'))
      .sort()
      .map((f) => join(SCHEMA_DIR, f))
    root.loadSync(files, { keepCase: true })
    root.resolveAll()
  } catch (err) {
    throw schemaError(`cannot load ${join(protoDir, SCHEMA_DIR)}: ${(err as Error).message}`, err)
  }
  cached = root
  return root
}

export function schemaType(name: string): protobuf.Type {
  try {
    return tetherSchema().lookupType(name)
  } catch (err) {
    throw schemaError(`message type ${name} is not in the schema`, err)
  }
}

function schemaError(message: string, cause?: unknown): NetError {
  return new NetError('ERR_SCHEMA', message, { origin: 'local', cause })
}
