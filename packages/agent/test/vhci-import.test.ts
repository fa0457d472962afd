/**
 * importHandshake over a real TCP connection to a peer that answers OP_REP_IMPORT and sends more
 * bytes right behind it (in the same segment): those must stay in the stream.
 */
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { connect, createServer, type Server, type Socket } from 'node:net'
import { after, before, describe, test } from 'node:test'
import {
  type DeviceRecord,
  encodeOpRepImport,
  NEED_DATA,
  OpStatus,
  ServerDecoder,
  UsbipError,
} from '@tether/usbip'
import { importHandshake, VhciError } from '../src/vhci/index.js'

const DEVICE: DeviceRecord = {
  path: '/sys/devices/tether/1-1',
  busid: '1-1',
  busnum: 1,
  devnum: 2,
  speed: 3,
  idVendor: 0x1d6b,
  idProduct: 0x0104,
  bcdDevice: 0x0100,
  deviceClass: 2,
  deviceSubClass: 0,
  deviceProtocol: 0,
  configurationValue: 1,
  numConfigurations: 1,
  numInterfaces: 2,
}

const TRAILER = Buffer.from('URB bytes that belong to the kernel')

describe('importHandshake', () => {
  let server: Server
  let port = 0
  const requests: string[] = []
  before(async () => {
    server = createServer((socket) => {
      const decoder = new ServerDecoder()
      socket.on('data', (chunk) => {
        decoder.push(chunk)
        const message = decoder.next()
        if (message === NEED_DATA || message.kind !== 'OP_REQ_IMPORT') return
        requests.push(message.busid)
        if (message.busid === '1-1')
          socket.write(Buffer.concat([encodeOpRepImport(OpStatus.OK, DEVICE), TRAILER]))
        else if (message.busid === '1-2') socket.end(encodeOpRepImport(OpStatus.OK, DEVICE).subarray(0, 100))
        else if (message.busid === '1-3') socket.write(encodeOpRepImport(OpStatus.OK, DEVICE))
        else socket.write(encodeOpRepImport(OpStatus.NODEV))
      })
    })
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    port = (server.address() as { port: number }).port
  })
  after(() => server.close())

  async function dial(): Promise<Socket> {
    const socket = connect(port, '127.0.0.1')
    await once(socket, 'connect')
    return socket
  }

  test('returns the record and leaves the bytes after the reply in the stream', async () => {
    const socket = await dial()
    const device = await importHandshake(socket, '1-1')
    assert.deepEqual(device, DEVICE)
    const rest: Buffer[] = []
    let have = 0
    for await (const chunk of socket) {
      rest.push(chunk as Buffer)
      have += (chunk as Buffer).length
      if (have >= TRAILER.length) break
    }
    assert.deepEqual(Buffer.concat(rest), TRAILER)
    socket.destroy()
  })

  test('refusal is UsbipError ERR_IMPORT_REFUSED naming the reason', async () => {
    const socket = await dial()
    await assert.rejects(
      importHandshake(socket, '9-9'),
      (err: unknown) =>
        err instanceof UsbipError && err.code === 'ERR_IMPORT_REFUSED' && /not exported/.test(err.message),
    )
    socket.destroy()
  })

  test('a reply cut short is ERR_VHCI_HANDSHAKE; a wrong busid too', async () => {
    const cut = await dial()
    await assert.rejects(
      importHandshake(cut, '1-2'),
      (err: unknown) => err instanceof VhciError && err.code === 'ERR_VHCI_HANDSHAKE',
    )
    cut.destroy()
    const wrong = await dial()
    await assert.rejects(
      importHandshake(wrong, '1-3'),
      (err: unknown) =>
        err instanceof VhciError && err.code === 'ERR_VHCI_HANDSHAKE' && /1-1/.test(err.message),
    )
    wrong.destroy()
  })

  test('an aborted signal rejects with ERR_VHCI_ABORTED', async () => {
    const socket = await dial()
    const controller = new AbortController()
    const pending = importHandshake(socket, '1-4-never', { signal: controller.signal })
    controller.abort()
    // The server may still answer; the handshake is already settled.
    await assert.rejects(pending, (err: unknown) => err instanceof VhciError || err instanceof UsbipError)
    socket.destroy()
    assert.ok(requests.includes('1-1'))
  })
})
