/**
 * The raw-TCP baseline for the USB/IP benchmark, run as its own process like the USB/IP server:
 * "echo" answers each 64-byte message, "source" streams zeros, "sink" swallows.
 */
import { createServer } from 'node:net'

const chunk = Buffer.alloc(64 * 1024)
const server = createServer({ noDelay: true }, (socket) => {
  socket.once('data', (first) => {
    const mode = first.toString('latin1', 0, 1)
    if (mode === 'e') {
      socket.on('data', (data) => socket.write(data))
      if (first.length > 1) socket.write(first.subarray(1))
    } else if (mode === 's') {
      const pump = () => {
        while (socket.write(chunk)) {}
      }
      socket.on('drain', pump)
      socket.on('error', () => {})
      pump()
    } else {
      socket.on('data', () => {})
    }
  })
  socket.on('error', () => {})
})
server.listen(0, '127.0.0.1', () => {
  const address = server.address()
  process.stdout.write(`${JSON.stringify(address)}\n`)
})
