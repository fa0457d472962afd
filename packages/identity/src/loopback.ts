import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Logger } from './deps.js'

/** One authorization response that arrived on the loopback redirect URI with the expected state. */
export interface Callback {
  /** The full URL the browser was sent to (query carries code/state/iss or error). */
  readonly url: URL
  /** Answers the browser with a small page; call once. */
  respond(ok: boolean, message: string): void
}

export interface LoopbackReceiver {
  /** `http://127.0.0.1:<port>/callback`, the redirect_uri to send (RFC 8252 §7.3). */
  readonly redirectUri: string
  /** Resolves with the first callback carrying `state`; callbacks with another state get a 400 and are ignored. */
  next(state: string, signal: AbortSignal): Promise<Callback>
  close(): Promise<void>
}

const PATH = '/callback'

function page(title: string, body: string): string {
  const esc = (s: string): string => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)
  return `<!doctype html><html><head><meta charset="utf-8"><title>${esc(title)}</title></head><body style="font-family:sans-serif;max-width:40em;margin:4em auto"><h1>${esc(title)}</h1><p>${esc(body)}</p></body></html>`
}

function send(res: ServerResponse, status: number, title: string, body: string): void {
  res.writeHead(status, {
    'content-type': 'text/html; charset=utf-8',
    'cache-control': 'no-store',
    connection: 'close',
    'referrer-policy': 'no-referrer',
    'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'",
  })
  res.end(page(title, body))
}

/** Listens on 127.0.0.1 with a port the kernel picks, for the browser's redirect back to us. */
export async function startLoopbackReceiver(logger: Logger): Promise<LoopbackReceiver> {
  let waiter: { state: string; resolve: (cb: Callback) => void } | undefined
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', `http://127.0.0.1:${(server.address() as AddressInfo).port}`)
    if (req.method !== 'GET' || url.pathname !== PATH) {
      send(res, 404, 'Not found', 'This is tether login’s redirect listener; nothing else lives here.')
      return
    }
    const state = url.searchParams.get('state')
    if (!waiter || state !== waiter.state) {
      logger.warn(
        'login: ignored a redirect whose state does not match this login (not from our authorization request)',
      )
      send(
        res,
        400,
        'Login refused',
        'This response does not belong to the login in progress (state mismatch). Run tether login again from your terminal.',
      )
      return
    }
    const current = waiter
    waiter = undefined
    let answered = false
    current.resolve({
      url,
      respond(ok, message) {
        if (answered) return
        answered = true
        send(res, ok ? 200 : 400, ok ? 'Logged in to tether' : 'Login failed', message)
      },
    })
  })
  server.keepAliveTimeout = 1000
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => resolve())
  })
  const { port } = server.address() as AddressInfo
  return {
    redirectUri: `http://127.0.0.1:${port}${PATH}`,
    next(state, signal) {
      return new Promise<Callback>((resolve, reject) => {
        if (signal.aborted) {
          reject(signal.reason)
          return
        }
        const onAbort = (): void => {
          waiter = undefined
          reject(signal.reason)
        }
        signal.addEventListener('abort', onAbort, { once: true })
        waiter = {
          state,
          resolve: (cb) => {
            signal.removeEventListener('abort', onAbort)
            resolve(cb)
          },
        }
      })
    },
    close() {
      return new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeIdleConnections()
        // A browser that holds a connection open without a request must not keep us waiting.
        setTimeout(() => server.closeAllConnections(), 2000).unref()
      })
    },
  }
}
