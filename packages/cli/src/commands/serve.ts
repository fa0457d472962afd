/** `tether serve`: a standalone USB/IP server for chosen virtual devices. */
import { type Logger, openPcapngFile, USBIP_DEFAULT_PORT, UsbipServer } from '@tether/usbip'
import { createVirtualDevice, type VirtualDeviceSpecError } from '@tether/virtual'
import type { Argv } from 'yargs'
import { CliUsageError, parseHostPort } from '../address.js'
import { deviceToJson, formatDeviceTable } from '../device-table.js'
import { untilStopSignal } from '../stop-signal.js'

export interface ServeArgs {
  listen: string
  device: string[]
  json: boolean
  pcap: string | undefined
}

export function serveCommand(yargs: Argv, makeLogger: () => Logger) {
  return yargs.command<ServeArgs>(
    'serve',
    'Serve virtual USB devices over plain USB/IP (stock usbip tools can attach them)',
    (y) =>
      y
        .option('listen', {
          alias: 'l',
          type: 'string',
          default: `127.0.0.1:${USBIP_DEFAULT_PORT}`,
          describe: 'HOST:PORT to listen on (port 0 picks a free one)',
        })
        .option('device', {
          alias: 'd',
          type: 'string',
          array: true,
          default: ['cdc-acm:board'],
          describe: 'Device to serve, repeatable: cdc-acm, cdc-acm:board, gadget-zero, disk:FILE[:ro]',
        })
        .option('json', {
          type: 'boolean',
          default: false,
          describe: 'Print the listening address and devices as JSON',
        })
        .option('pcap', {
          type: 'string',
          describe:
            'Record every URB to this pcapng file (usbmon format: Wireshark and tshark decode it as USB)',
        })
        .example(
          '$0 serve -d cdc-acm:board -d gadget-zero -d disk:board.img',
          'a board console, a test device and a disk',
        ),
    async (args) => {
      const log = makeLogger()
      const address = parseHostPort(args.listen)
      const devices = await Promise.all(
        args.device.map(async (spec, index) => {
          try {
            return await createVirtualDevice(spec, { index, logger: log })
          } catch (err) {
            throw new CliUsageError(`--device ${spec}: ${(err as VirtualDeviceSpecError).message}`)
          }
        }),
      )
      const recording = args.pcap === undefined ? undefined : openPcapngFile(args.pcap)
      const server = new UsbipServer({
        devices,
        logger: log,
        ...(recording ? { capture: recording.capture } : {}),
      })
      const bound = await server.listen(address.port, address.host)
      const descriptions = new Map(devices.map((d) => [d.identity.busid, d.description]))
      if (args.json) {
        const exported = server.catalog.all().map((d) => deviceToJson(d, descriptions.get(d.busid)))
        process.stdout.write(
          `${JSON.stringify({ listening: { host: bound.address, port: bound.port }, devices: exported })}\n`,
        )
      } else {
        process.stdout.write(`listening on ${bound.address}:${bound.port}\n`)
        process.stdout.write(formatDeviceTable(server.catalog.all(), descriptions))
        process.stdout.write(
          `attach with: usbip --tcp-port ${bound.port} attach -r ${bound.address} -b ${devices[0]!.identity.busid}\n`,
        )
      }
      await untilStopSignal(log)
      await server.close()
      await recording?.close()
    },
  )
}
