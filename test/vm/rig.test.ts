/**
 * Smoke test of the QEMU guest rig itself (no USB/IP server involved): Debian's kernel boots
 * with vhci_hcd, the stock usbip tool runs in the guest, the guest reaches a host server only
 * through the guestfwd relay, and nothing else on the network.
 */
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { createServer, type Server, type Socket } from 'node:net'
import { after, before, test } from 'node:test'
import { kernelErrors, runGuest, tail } from '../lib/vm.js'

const MARKER = `tether-rig-${process.pid}`
let server: Server
let port = 0
const connections: string[] = []

before(async () => {
  server = createServer((socket: Socket) => {
    connections.push(`${socket.remoteAddress}:${socket.remotePort}`)
    socket.once('data', (data) => socket.end(`${MARKER} ${data.toString().trim()}\n`))
    socket.on('error', () => {})
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const address = server.address()
  assert.ok(address !== null && typeof address === 'object')
  port = address.port
})

after(() => {
  server?.close()
})

test("the guest boots Debian's kernel with vhci_hcd, runs usbip and reaches only the host server", {
  timeout: 240_000,
}, async (t) => {
  const result = await runGuest({
    hostPort: port,
    timeoutMs: 180_000,
    script: `
      echo "kernel $(uname -r)"
      if [ -e /sys/devices/platform/vhci_hcd.0/nports ]; then
        echo "vhci nports $(cat /sys/devices/platform/vhci_hcd.0/nports)"
      else
        echo "vhci missing"
      fi
      echo "usbip: $(usbip version 2>&1)"
      # Two connections in a row: each must reach the server as a connection of its own.
      for n in 1 2; do
        reply=$(timeout 10 bash -c "exec 3<>/dev/tcp/$USBIP_SERVER/$USBIP_PORT && echo hello-$n >&3 && head -n 1 <&3" 2>&1)
        echo "forwarded $n: $reply"
      done
      # Anything else must be refused (QEMU's restrict=on): the host's loopback via the
      # gateway, the slirp DNS address, an outside address.
      for target in 10.0.2.2/$USBIP_PORT 10.0.2.3/53 10.0.2.100/22 1.1.1.1/80; do
        if timeout 10 bash -c "exec 3<>/dev/tcp/\${target%/*}/\${target#*/}" 2>/dev/null; then
          echo "other $target: CONNECTED"
        else
          echo "other $target: refused"
        fi
      done
      echo ok > rig-result
    `,
  })
  const context = `\n--- guest console (tail) ---\n${tail(result.output, 40)}`
  t.diagnostic(`boot + script + power-off: ${Math.round(result.durationMs)} ms`)

  assert.equal(result.exitCode, 0, `guest script failed${context}`)
  assert.match(result.output, /^kernel \d+\.\d+\.\d+/m, `no kernel version printed${context}`)
  assert.match(result.output, /^vhci nports \d+/m, `vhci_hcd is not loaded (no vhci_hcd.0/nports)${context}`)
  assert.match(result.output, /^usbip: usbip \(usbip-utils [\d.]+\)/m, `usbip version did not run${context}`)
  for (const n of [1, 2]) {
    assert.match(
      result.output,
      new RegExp(`^forwarded ${n}: ${MARKER} hello-${n}$`, 'm'),
      `guest connection ${n} to 10.0.2.100:3240 did not reach the host server${context}`,
    )
  }
  assert.equal(
    connections.length,
    2,
    `the host server saw ${connections.length} connections, not 2${context}`,
  )
  for (const target of ['10.0.2.2/3240', '10.0.2.3/53', '10.0.2.100/22', '1.1.1.1/80']) {
    assert.match(
      result.output,
      new RegExp(`^other ${target.replaceAll('.', '\\.')}: refused$`, 'm'),
      `the guest could connect to ${target}${context}`,
    )
  }
  assert.equal(result.files['rig-result']?.toString(), 'ok\n', `scratch file not read back${context}`)
  assert.match(result.dmesg, /tether-init: running/, 'dmesg not collected')
  assert.deepEqual(kernelErrors(result.dmesg), [], 'kernel errors during the smoke run')
})

test('kernelErrors tells a clean detach from a dropped connection', () => {
  const clean = [
    '<6>[    4.0] tether-init: running /run/tether/script.sh',
    '<6>[    5.0] vhci_hcd vhci_hcd.0: pdev(0) rhport(0) sockfd(3)',
    '<6>[    5.1] usb 1-1: new high-speed USB device number 2 using vhci_hcd',
    '<6>[    5.2] usb 1-1: SetAddress Request (2) to port 0',
    '<3>[    5.3] sd 0:0:0:0: [sda] No Caching mode page found',
    '<12>[    6.0] tether: detach port 0',
    '<6>[    6.1] vhci_hcd: connection closed',
    '<6>[    6.1] vhci_hcd: stop threads',
    '<6>[    6.1] vhci_hcd: release socket',
    '<6>[    6.1] vhci_hcd: disconnect device',
    '<6>[    6.2] usb 1-1: USB disconnect, device number 2',
  ].join('\n')
  assert.deepEqual(kernelErrors(clean), [])

  const dropped = clean.replace('<12>[    6.0] tether: detach port 0\n', '')
  assert.equal(kernelErrors(dropped).length, 2)

  const protocol = `${clean}\n<3>[    7.0] vhci_hcd: cannot find a urb of seqnum 12 max seqnum 11\n<6>[    7.0] vhci_hcd: connection reset by peer`
  assert.deepEqual(kernelErrors(protocol), [
    '[    7.0] vhci_hcd: cannot find a urb of seqnum 12 max seqnum 11',
    '[    7.0] vhci_hcd: connection reset by peer',
  ])

  const boot = `<3>[    0.1] some boot error\n${clean}`
  assert.deepEqual(kernelErrors(boot), [], 'lines before the script started count')

  assert.equal(kernelErrors('<4>[    8.0] WARNING: CPU: 0 PID: 1 at drivers/usb/core/hcd.c:1 x\n').length, 1)
  assert.equal(kernelErrors('<3>[    8.0] usb 1-1: device descriptor read/64, error -110\n').length, 1)
  assert.equal(
    kernelErrors('<6>[    8.0] usb 1-1: reset high-speed USB device number 2 using vhci_hcd\n').length,
    1,
  )
})
