/**
 * The agent's local control socket: the CLI (`tether attach|detach|status|forward`) sends one
 * JSON request per connection and reads JSON-line events until a final `result` or `error`.
 * Local IPC only (a Unix socket, mode 0600 in a 0700 directory, or 0660 / 0750 for a group: see
 * socket-access.ts); requests are validated here.
 */
import { chmodSync, chownSync, existsSync, mkdirSync, unlinkSync } from 'node:fs'
import { createConnection, createServer, type Server, type Socket } from 'node:net'
import { dirname, join } from 'node:path'
import { type Logger, silentLogger } from '@tether/usbip'
import type { Agent } from './agent.js'
import { AgentError, isAgentError } from './errors.js'
import { mayConnect, SYSTEM_SOCKET } from './socket-access.js'

export type ControlRequest =
  | { readonly op: 'attach'; readonly target: string; readonly hub?: string; readonly login?: string }
  | { readonly op: 'detach'; readonly selector?: string; readonly all?: boolean }
  | {
      readonly op: 'forward'
      readonly target: string
      readonly hub?: string
      readonly listen?: string
      readonly login?: string
    }
  | { readonly op: 'unforward'; readonly id: string }
  | { readonly op: 'status' }
  | { readonly op: 'shutdown' }

export type ControlEvent =
  | { readonly event: 'progress'; readonly message: string }
  | { readonly event: 'result'; readonly result: unknown }
  | { readonly event: 'error'; readonly code: string; readonly message: string }

const MAX_REQUEST_BYTES = 32 * 1024
/** A login (OIDC) token is a few KiB. */
const MAX_LOGIN_BYTES = 16 * 1024

/**
 * Where the agent's socket lives: TETHER_AGENT_SOCKET; /run/tether for root, and for a user who
 * may use a system agent there (a member of its --group); else per user.
 */
export function defaultSocketPath(
  env: NodeJS.ProcessEnv = process.env,
  uid = process.getuid?.() ?? 0,
  usable: (path: string) => boolean = mayConnect,
): string {
  if (env.TETHER_AGENT_SOCKET) return env.TETHER_AGENT_SOCKET
  if (uid === 0 || usable(SYSTEM_SOCKET)) return SYSTEM_SOCKET
  if (env.XDG_RUNTIME_DIR) return join(env.XDG_RUNTIME_DIR, 'tether', 'agent.sock')
  return join('/tmp', `tether-${uid}`, 'agent.sock')
}

export function parseControlRequest(text: string): ControlRequest {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    throw new AgentError('ERR_BAD_REQUEST', 'control request is not JSON')
  }
  if (typeof value !== 'object' || value === null)
    throw new AgentError('ERR_BAD_REQUEST', 'control request must be an object')
  const o = value as Record<string, unknown>
  const str = (key: string, required: boolean): string | undefined => {
    const v = o[key]
    if (v === undefined && !required) return undefined
    if (typeof v !== 'string' || v.length === 0 || v.length > 1024) {
      throw new AgentError('ERR_BAD_REQUEST', `control request field "${key}" must be a non-empty string`)
    }
    return v
  }
  const opt = (key: string) => {
    const v = str(key, false)
    return v === undefined ? {} : { [key]: v }
  }
  const login = () => {
    const v = o.login
    if (v === undefined) return {}
    if (typeof v !== 'string' || v.length === 0 || v.length > MAX_LOGIN_BYTES) {
      throw new AgentError('ERR_BAD_REQUEST', 'control request field "login" must be a login token')
    }
    return { login: v }
  }
  switch (o.op) {
    case 'attach':
      return { op: 'attach', target: str('target', true) as string, ...opt('hub'), ...login() }
    case 'detach':
      if (o.all !== undefined && typeof o.all !== 'boolean')
        throw new AgentError('ERR_BAD_REQUEST', '"all" must be a boolean')
      if (!o.all && o.selector === undefined)
        throw new AgentError('ERR_BAD_REQUEST', 'detach needs a selector or all')
      return { op: 'detach', ...opt('selector'), ...(o.all ? { all: true } : {}) }
    case 'forward':
      return {
        op: 'forward',
        target: str('target', true) as string,
        ...opt('hub'),
        ...opt('listen'),
        ...login(),
      }
    case 'unforward':
      return { op: 'unforward', id: str('id', true) as string }
    case 'status':
    case 'shutdown':
      return { op: o.op }
    default:
      throw new AgentError('ERR_BAD_REQUEST', `unknown control op ${JSON.stringify(o.op)}`)
  }
}

export class ControlServer {
  private readonly server: Server
  private readonly log: Logger

  constructor(
    private readonly agent: Agent,
    private readonly onShutdown: () => void,
    options: { logger?: Logger } = {},
  ) {
    this.log = (options.logger ?? silentLogger).child('agent:control')
    this.server = createServer((socket) => void this.serve(socket))
  }

  /** Listen on `path`; with `group` (a gid) its members may connect too. */
  async listen(path: string, options: { group?: number } = {}): Promise<void> {
    const group = options.group
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 })
    if (group !== undefined) {
      // The directory must let the group reach the socket; owner and mode are set, not assumed.
      chownSync(dirname(path), process.getuid?.() ?? 0, group)
      chmodSync(dirname(path), 0o750)
    }
    if (existsSync(path)) {
      if (await isAlive(path)) {
        throw new AgentError(
          'ERR_BAD_REQUEST',
          `an agent already listens on ${path}; stop it first (tether agent stop)`,
        )
      }
      unlinkSync(path)
    }
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject)
      this.server.listen(path, () => {
        this.server.off('error', reject)
        resolve()
      })
    })
    if (group !== undefined) {
      chownSync(path, process.getuid?.() ?? 0, group)
      chmodSync(path, 0o660)
    } else {
      chmodSync(path, 0o600)
    }
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()))
  }

  private async serve(socket: Socket): Promise<void> {
    socket.on('error', () => {})
    const send = (event: ControlEvent) => {
      if (!socket.destroyed) socket.write(`${JSON.stringify(event)}\n`)
    }
    let text = ''
    try {
      text = await readLine(socket)
      const request = parseControlRequest(text)
      this.log.debug('request', { op: request.op })
      const result = await this.run(request, (message) => send({ event: 'progress', message }))
      send({ event: 'result', result })
    } catch (err) {
      const code = (err as { code?: unknown }).code
      send({
        event: 'error',
        code: typeof code === 'string' ? code : 'ERR_INTERNAL',
        message: (err as Error).message,
      })
      if (!isAgentError(err)) this.log.warn('request failed', { error: (err as Error).message })
    }
    socket.end()
  }

  private async run(request: ControlRequest, progress: (message: string) => void): Promise<unknown> {
    switch (request.op) {
      case 'attach':
        return this.agent.attach(request, progress)
      case 'detach':
        return this.agent.detach(request)
      case 'forward':
        return this.agent.forward(request)
      case 'unforward':
        await this.agent.unforward(request.id)
        return { id: request.id }
      case 'status':
        return this.agent.status()
      case 'shutdown':
        setImmediate(this.onShutdown)
        return { stopping: true }
    }
  }
}

/** Send one request; `onProgress` sees progress lines; resolves with the result. */
export async function callAgent(
  path: string,
  request: ControlRequest,
  onProgress: (message: string) => void = () => {},
  options: { timeoutMs?: number } = {},
): Promise<unknown> {
  const socket = await connectSocket(path)
  socket.write(`${JSON.stringify(request)}\n`)
  const timeout =
    options.timeoutMs === undefined
      ? undefined
      : setTimeout(() => socket.destroy(new Error('timed out')), options.timeoutMs)
  try {
    let buffered = ''
    for await (const chunk of socket) {
      buffered += String(chunk)
      for (;;) {
        const nl = buffered.indexOf('\n')
        if (nl < 0) break
        const event = JSON.parse(buffered.slice(0, nl)) as ControlEvent
        buffered = buffered.slice(nl + 1)
        if (event.event === 'progress') onProgress(event.message)
        else if (event.event === 'result') return event.result
        else throw new AgentError(event.code as never, event.message)
      }
    }
    throw new AgentError(
      'ERR_AGENT_UNAVAILABLE',
      `the agent at ${path} closed the connection without an answer (see its log)`,
    )
  } finally {
    clearTimeout(timeout)
    socket.destroy()
  }
}

export function connectSocket(path: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = createConnection(path)
    socket.once('connect', () => {
      socket.off('error', reject)
      resolve(socket)
    })
    socket.once('error', (err: NodeJS.ErrnoException) => {
      const denied = err.code === 'EACCES' || err.code === 'EPERM'
      reject(
        new AgentError(
          denied ? 'ERR_AGENT_DENIED' : 'ERR_AGENT_UNAVAILABLE',
          denied
            ? `permission denied on the agent's socket ${path}: that agent belongs to another user; ask its admin to add you to the group it was started with (tether agent --group), or use sudo`
            : `no tether agent listens on ${path} (${err.code ?? err.message}); start one with \`sudo tether agent\``,
          { cause: err, details: { path, errno: err.code } },
        ),
      )
    })
  })
}

async function isAlive(path: string): Promise<boolean> {
  try {
    ;(await connectSocket(path)).destroy()
    return true
  } catch {
    return false
  }
}

function readLine(socket: Socket): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = ''
    const timer = setTimeout(
      () => finish(new AgentError('ERR_BAD_REQUEST', 'no request within 10 s')),
      10_000,
    )
    const finish = (err?: Error, line?: string) => {
      clearTimeout(timer)
      socket.off('data', onData)
      socket.off('end', onEnd)
      if (err) reject(err)
      else resolve(line as string)
    }
    const onData = (chunk: Buffer) => {
      text += chunk.toString('utf8')
      const nl = text.indexOf('\n')
      if (nl >= 0) finish(undefined, text.slice(0, nl))
      else if (text.length > MAX_REQUEST_BYTES)
        finish(new AgentError('ERR_BAD_REQUEST', 'control request too large'))
    }
    const onEnd = () => finish(new AgentError('ERR_BAD_REQUEST', 'connection closed before a request'))
    socket.on('data', onData)
    socket.on('end', onEnd)
  })
}
