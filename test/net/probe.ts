/**
 * A tiny TCP/UDP probe the netns tests run inside the namespaces (no tether code). One line per
 * event on stdout, so tests can waitForLine() on it:
 *
 *   tcp-listen PORT                      → "listening PORT", then "accepted ADDR:PORT" per
 *                                          connection; echoes every byte back
 *   tcp-connect HOST PORT TIMEOUT_MS     → "connected LOCALADDR:LOCALPORT", sends "ping", waits for
 *                                          the echo: "ok", exit 0; or "failed CODE", exit 1
 *   tcp-chat HOST PORT TIMEOUT_MS        → like tcp-connect, then sends each stdin line and prints
 *                                          "echo LINE" for each line coming back; exits at EOF
 *   udp-listen PORT DURATION_MS          → "listening PORT", "received ADDR:PORT TEXT" per datagram
 *   udp-send HOST PORT COUNT             → sends COUNT datagrams 50 ms apart, "sent COUNT"
 *   udp-punch PORT HOST PEERPORT DURATION_MS → binds PORT, sends to HOST:PEERPORT every 100 ms and
 *                                          prints "received ADDR:PORT TEXT" per datagram
 */
import { createSocket } from 'node:dgram'
import { connect, createServer, type Socket } from 'node:net'
import { createInterface } from 'node:readline'

const [mode, ...args] = process.argv.slice(2)
const say = (line: string) => process.stdout.write(`${line}\n`)
const num = (text: string | undefined, what: string): number => {
  const n = Number(text)
  if (!Number.isInteger(n) || n < 0) {
    process.stderr.write(`probe: ${what} must be a non-negative integer, not ${text}\n`)
    process.exit(2)
  }
  return n
}

function tcpConnect(
  host: string,
  port: number,
  timeoutMs: number,
  onConnected: (socket: Socket) => void,
): void {
  const socket = connect({ host, port })
  const timer = setTimeout(() => {
    say('failed ETIMEDOUT')
    socket.destroy()
    process.exit(1)
  }, timeoutMs)
  socket.once('connect', () => {
    clearTimeout(timer)
    say(`connected ${socket.localAddress}:${socket.localPort}`)
    onConnected(socket)
  })
  socket.on('error', (err: NodeJS.ErrnoException) => {
    clearTimeout(timer)
    say(`failed ${err.code ?? err.message}`)
    process.exit(1)
  })
}

switch (mode) {
  case 'tcp-listen': {
    const server = createServer((socket) => {
      say(`accepted ${socket.remoteAddress}:${socket.remotePort}`)
      socket.on('error', () => {})
      socket.pipe(socket)
    })
    server.listen(num(args[0], 'PORT'), '0.0.0.0', () => say(`listening ${num(args[0], 'PORT')}`))
    break
  }
  case 'tcp-connect': {
    tcpConnect(args[0]!, num(args[1], 'PORT'), num(args[2], 'TIMEOUT_MS'), (socket) => {
      socket.setEncoding('utf8')
      let got = ''
      socket.on('data', (s: string) => {
        got += s
        if (got.includes('ping\n')) {
          say('ok')
          socket.end()
          process.exit(0)
        }
      })
      socket.write('ping\n')
    })
    break
  }
  case 'tcp-chat': {
    tcpConnect(args[0]!, num(args[1], 'PORT'), num(args[2], 'TIMEOUT_MS'), (socket) => {
      const fromPeer = createInterface({ input: socket })
      fromPeer.on('line', (line) => say(`echo ${line}`))
      const fromStdin = createInterface({ input: process.stdin })
      fromStdin.on('line', (line) => socket.write(`${line}\n`))
      fromStdin.on('close', () => {
        socket.end()
        process.exit(0)
      })
    })
    break
  }
  case 'udp-listen': {
    const socket = createSocket('udp4')
    socket.on('message', (msg, from) => say(`received ${from.address}:${from.port} ${msg.toString()}`))
    socket.bind(num(args[0], 'PORT'), '0.0.0.0', () => say(`listening ${num(args[0], 'PORT')}`))
    setTimeout(() => process.exit(0), num(args[1], 'DURATION_MS'))
    break
  }
  case 'udp-send': {
    const socket = createSocket('udp4')
    const count = num(args[2], 'COUNT')
    let sent = 0
    const tick = () => {
      if (sent === count) {
        say(`sent ${count}`)
        process.exit(0)
      }
      socket.send(`datagram ${sent++}`, num(args[1], 'PORT'), args[0]!)
      setTimeout(tick, 50)
    }
    tick()
    break
  }
  case 'udp-punch': {
    const socket = createSocket('udp4')
    socket.on('message', (msg, from) => say(`received ${from.address}:${from.port} ${msg.toString()}`))
    socket.on('error', (err) => say(`error ${err.message}`))
    socket.bind(num(args[0], 'PORT'), '0.0.0.0', () => {
      say(`bound ${num(args[0], 'PORT')}`)
      const timer = setInterval(
        () => socket.send(`punch from ${args[0]}`, num(args[2], 'PEERPORT'), args[1]!),
        100,
      )
      setTimeout(
        () => {
          clearInterval(timer)
          process.exit(0)
        },
        num(args[3], 'DURATION_MS'),
      )
    })
    break
  }
  default:
    process.stderr.write(`probe: unknown mode ${mode}\n`)
    process.exit(2)
}
