/**
 * `tether usbip attach | detach | port`: hand USB/IP devices to the kernel's vhci_hcd, like the
 * stock `usbip attach`. Direct mode gives the TCP socket itself to the kernel; `--pump` keeps it in
 * this process and pumps it through a loopback socket pair (attachStream, the code path tunnels
 * use), staying in the foreground until the device is detached or SIGINT/SIGTERM detaches it.
 */
import {
  attachNetSocket,
  attachStream,
  checkVhciWritable,
  detachPort,
  importHandshake,
  isVhciError,
  listAttached,
  primaryNodes,
  speedName,
  stateName,
  type VhciEnumeration,
  waitForEnumeration,
} from '@tether/agent/vhci'
import { connectTcp, type DeviceRecord, type Logger, USBIP_DEFAULT_PORT } from '@tether/usbip'
import type { Argv } from 'yargs'
import { parseHostPort } from '../address.js'

export interface UsbipAttachArgs {
  remote: string
  busid: string
  pump: boolean
  json: boolean
  wait: boolean
  'wait-timeout': number
  timeout: number
}

export interface UsbipDetachArgs {
  port: number
}

export interface UsbipPortArgs {
  json: boolean
}

export function usbipAttachCommand(yargs: Argv, makeLogger: () => Logger) {
  return yargs
    .command<UsbipAttachArgs>(
      'attach',
      'Attach a device of a USB/IP server to this machine through vhci_hcd (root)',
      (y) =>
        y
          .option('remote', {
            alias: 'r',
            type: 'string',
            demandOption: true,
            describe: `HOST[:PORT] of the server (default port ${USBIP_DEFAULT_PORT})`,
          })
          .option('busid', {
            alias: 'b',
            type: 'string',
            demandOption: true,
            describe: 'Busid on the server',
          })
          .option('pump', {
            type: 'boolean',
            default: false,
            describe: 'Keep the connection in this process and pump it to the kernel; runs until detached',
          })
          .option('json', { type: 'boolean', default: false, describe: 'Print the result as JSON' })
          .option('wait', {
            type: 'boolean',
            default: true,
            describe: 'Wait for drivers and device nodes (--no-wait: return once attached)',
          })
          .option('wait-timeout', {
            type: 'number',
            default: 30,
            describe: 'Seconds to wait for enumeration',
          })
          .option('timeout', { type: 'number', default: 10, describe: 'Seconds for connect and import' })
          .example('$0 usbip attach -r 192.168.1.5 -b 1-1', 'attach busid 1-1, print its /dev nodes')
          .example('$0 usbip attach -r 127.0.0.1:3240 -b 1-2 --pump', 'same, pumped through this process'),
      (args) => reportErrors(() => attach(args, makeLogger())),
    )
    .command<UsbipDetachArgs>(
      'detach',
      'Detach a vhci_hcd port (see tether usbip port)',
      (y) =>
        y.option('port', { alias: 'p', type: 'number', demandOption: true, describe: 'vhci port number' }),
      (args) =>
        reportErrors(async () => {
          detachPort(args.port)
          process.stdout.write(`detached port ${args.port}\n`)
        }),
    )
    .command<UsbipPortArgs>(
      'port',
      'List the vhci_hcd ports in use',
      (y) => y.option('json', { type: 'boolean', default: false }),
      (args) =>
        reportErrors(async () => {
          const ports = listAttached()
          if (args.json) {
            process.stdout.write(
              `${JSON.stringify(
                ports.map((p) => ({
                  port: p.port,
                  hub: p.hub,
                  state: stateName(p.state),
                  speed: speedName(p.speed),
                  devid: p.devid,
                  localBusid: p.localBusid ?? null,
                })),
              )}\n`,
            )
            return
          }
          if (ports.length === 0) {
            process.stdout.write('no vhci_hcd port in use\n')
            return
          }
          for (const p of ports) {
            const remote = `remote bus ${p.devid >>> 16} dev ${p.devid & 0xffff}`
            process.stdout.write(
              `port ${p.port} (${p.hub}): ${stateName(p.state)}, ${speedName(p.speed)} speed, ${p.localBusid ?? '-'}, ${remote}\n`,
            )
          }
        }),
    )
}

/** vhci errors name their fix: print them without a stack trace, exit 1. */
async function reportErrors(run: () => Promise<void>): Promise<void> {
  try {
    await run()
  } catch (err) {
    if (!isVhciError(err)) throw err
    process.stderr.write(`tether: ${err.message} (${err.code})\n`)
    process.exitCode = 1
  }
}

async function attach(args: UsbipAttachArgs, logger: Logger): Promise<void> {
  const { host, port: remotePort } = parseHostPort(args.remote)
  const remote = `${host}:${remotePort}`
  // Not loaded / not root: say so before bothering the server.
  checkVhciWritable()
  const setup = AbortSignal.timeout(args.timeout * 1000)
  const socket = await connectTcp({ host, port: remotePort, signal: setup })
  let device: DeviceRecord
  try {
    device = await importHandshake(socket, args.busid, { signal: setup })
  } catch (err) {
    socket.destroy()
    throw err
  }
  logger.debug('imported', { busid: device.busid, speed: speedName(device.speed), remote })

  if (!args.pump) {
    let port: number
    try {
      port = attachNetSocket({ socket, device })
    } catch (err) {
      socket.destroy()
      throw err
    }
    const enumeration = args.wait
      ? await waitForEnumeration(port, { timeoutMs: args['wait-timeout'] * 1000, logger })
      : undefined
    printAttached(args, remote, port, device, enumeration)
    return
  }

  const stop = new AbortController()
  const onSignal = (name: string) => () => {
    logger.info(`${name}: detaching`)
    stop.abort(new Error(name))
  }
  const onInt = onSignal('SIGINT')
  const onTerm = onSignal('SIGTERM')
  process.on('SIGINT', onInt)
  process.on('SIGTERM', onTerm)
  try {
    const attachment = await attachStream({ stream: socket, device, logger, signal: stop.signal }).catch(
      (err: unknown) => {
        socket.destroy()
        throw err
      },
    )
    let enumeration: VhciEnumeration | undefined
    if (args.wait) {
      try {
        enumeration = await waitForEnumeration(attachment.port, {
          timeoutMs: args['wait-timeout'] * 1000,
          logger,
          signal: stop.signal,
        })
      } catch (err) {
        await attachment.detach()
        if (stop.signal.aborted) return
        throw err
      }
    }
    printAttached(args, remote, attachment.port, device, enumeration)
    const reason = await attachment.closed
    const summary = {
      port: attachment.port,
      reason: reason.kind,
      bytesIn: attachment.bytesIn,
      bytesOut: attachment.bytesOut,
    }
    if (reason.kind === 'error') logger.warn('connection failed', { ...summary, error: reason.error.message })
    process.stderr.write(
      `detached port ${attachment.port} (${reason.kind}): ${attachment.bytesIn} bytes in, ${attachment.bytesOut} bytes out\n`,
    )
  } finally {
    process.off('SIGINT', onInt)
    process.off('SIGTERM', onTerm)
  }
}

function printAttached(
  args: UsbipAttachArgs,
  remote: string,
  port: number,
  device: DeviceRecord,
  enumeration: VhciEnumeration | undefined,
): void {
  const nodes = enumeration ? primaryNodes(enumeration.nodes).map((n) => n.path) : []
  if (args.json) {
    process.stdout.write(
      `${JSON.stringify({
        remote,
        busid: device.busid,
        port,
        localBusid: enumeration?.busid ?? null,
        idVendor: enumeration?.idVendor ?? null,
        idProduct: enumeration?.idProduct ?? null,
        nodes,
        unbound: enumeration?.unbound ?? [],
        mode: args.pump ? 'pump' : 'direct',
      })}\n`,
    )
    return
  }
  const local = enumeration ? ` as ${enumeration.busid}` : ''
  const tail =
    enumeration === undefined ? '' : nodes.length > 0 ? `: ${nodes.join(' ')}` : ' (no device nodes)'
  process.stdout.write(`attached ${device.busid}${local} on port ${port}${tail}\n`)
}
