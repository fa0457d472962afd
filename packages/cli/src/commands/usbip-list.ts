/** `tether usbip list`: the device list of a USB/IP server, through our userspace client. */
import { listDevices, USBIP_DEFAULT_PORT } from '@tether/usbip'
import type { Argv } from 'yargs'
import { parseHostPort } from '../address.js'
import { deviceToJson, formatDeviceTable } from '../device-table.js'

export interface UsbipListArgs {
  remote: string
  json: boolean
  timeout: number
}

export function usbipListCommand(yargs: Argv) {
  return yargs.command<UsbipListArgs>(
    'list',
    'List the devices a USB/IP server exports',
    (y) =>
      y
        .option('remote', {
          alias: 'r',
          type: 'string',
          demandOption: true,
          describe: `HOST[:PORT] of the server (default port ${USBIP_DEFAULT_PORT})`,
        })
        .option('json', { type: 'boolean', default: false })
        .option('timeout', { type: 'number', default: 10, describe: 'Seconds to wait for the answer' }),
    async (args) => {
      const { host, port } = parseHostPort(args.remote)
      const devices = await listDevices({ host, port, signal: AbortSignal.timeout(args.timeout * 1000) })
      if (args.json) process.stdout.write(`${JSON.stringify(devices.map((d) => deviceToJson(d)))}\n`)
      else process.stdout.write(formatDeviceTable(devices))
    },
  )
}
