import assert from 'node:assert/strict'
import { test } from 'node:test'
import { importDevice, UsbipServer } from '@tether/usbip'
import { createVirtualDevice } from '@tether/virtual'
import { openAcmPort } from '../src/acm-host.js'

test('the board console boots on DTR and answers a command through the userspace client', async () => {
  const server = new UsbipServer({ devices: [createVirtualDevice('cdc-acm:board')] })
  const { port } = await server.listen(0, '127.0.0.1')
  try {
    const device = await importDevice({ host: '127.0.0.1', port, busid: '1-1' })
    let text = ''
    const seen = (pattern: RegExp) => waitFor(() => pattern.test(text))
    const acm = await openAcmPort(device, (bytes) => {
      text += new TextDecoder().decode(bytes)
    })
    await seen(/board\$ $/)
    assert.match(text, /U-Boot/)
    await acm.write(new TextEncoder().encode('echo hello from the test\r'))
    await seen(/hello from the test\r\nboard\$ $/)
    await acm.close()
  } finally {
    await server.close()
  }
})

test('a device that is not CDC-ACM is refused with a clear error', async () => {
  const server = new UsbipServer({ devices: [createVirtualDevice('gadget-zero')] })
  const { port } = await server.listen(0, '127.0.0.1')
  try {
    const device = await importDevice({ host: '127.0.0.1', port, busid: '1-1' })
    await assert.rejects(
      openAcmPort(device, () => {}),
      /not a CDC-ACM serial port/,
    )
    await device.close()
  } finally {
    await server.close()
  }
})

async function waitFor(condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time')
    await new Promise((r) => setTimeout(r, 5))
  }
}
