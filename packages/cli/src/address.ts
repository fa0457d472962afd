/** Parses "host:port", "[v6]:port", ":port" and "host" for the CLI, naming the fix on error. */
import { USBIP_DEFAULT_PORT } from '@tether/usbip'

export interface HostPort {
  readonly host: string
  readonly port: number
}

export function parseHostPort(
  text: string,
  defaults: HostPort = { host: '127.0.0.1', port: USBIP_DEFAULT_PORT },
): HostPort {
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(text)
  const plain = /^([^:]*)(?::(\d+))?$/.exec(text)
  const match = bracketed ?? plain
  if (!match) throw new CliUsageError(`"${text}" is not an address; write HOST:PORT, e.g. 127.0.0.1:3240`)
  const host = match[1] || defaults.host
  const port = match[2] === undefined ? defaults.port : Number(match[2])
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new CliUsageError(`port ${match[2]} in "${text}" is out of range 0-65535`)
  }
  return { host, port }
}

/** A mistake in how the command was called; the CLI prints it without a stack trace. */
export class CliUsageError extends Error {
  override readonly name = 'CliUsageError'
}
