/** `tether usbip console`: a board's serial console through the userspace USB/IP client. */
import { importDevice, USBIP_DEFAULT_PORT } from '@tether/usbip'
import type { Argv } from 'yargs'
import { openAcmPort } from '../acm-host.js'
import { parseHostPort } from '../address.js'

export interface ConsoleArgs {
  remote: string
  busid: string
  send: string[] | undefined
  wait: number
}

const CTRL_RIGHT_BRACKET = 0x1d

export function consoleCommand(yargs: Argv) {
  return yargs.command<ConsoleArgs>(
    'console',
    'Open the serial console of a CDC-ACM device (no root or kernel module needed)',
    (y) =>
      y
        .option('remote', {
          alias: 'r',
          type: 'string',
          demandOption: true,
          describe: `HOST[:PORT] (default port ${USBIP_DEFAULT_PORT})`,
        })
        .option('busid', { alias: 'b', type: 'string', demandOption: true })
        .option('send', {
          type: 'string',
          array: true,
          describe: 'Lines to type, one by one, instead of an interactive session',
        })
        .option('wait', {
          type: 'number',
          default: 0.5,
          describe: 'With --send: seconds to wait for output after each line',
        }),
    async (args) => {
      const { host, port } = parseHostPort(args.remote)
      const device = await importDevice({
        host,
        port,
        busid: args.busid,
        signal: AbortSignal.timeout(10_000),
      })
      const port_ = await openAcmPort(device, (bytes) => process.stdout.write(bytes))
      const pause = (seconds: number) => new Promise((r) => setTimeout(r, seconds * 1000))
      if (args.send) {
        await pause(args.wait)
        for (const line of args.send) {
          await port_.write(new TextEncoder().encode(`${line}\r`))
          await pause(args.wait)
        }
        process.stdout.write('\n')
        await port_.close()
        return
      }
      process.stderr.write(`connected to ${args.busid} on ${host}:${port}; Ctrl-] quits\n`)
      const stdin = process.stdin
      if (stdin.isTTY) stdin.setRawMode(true)
      await new Promise<void>((resolve) => {
        stdin.on('data', (chunk: Buffer) => {
          const quit = chunk.indexOf(CTRL_RIGHT_BRACKET)
          const bytes = quit >= 0 ? chunk.subarray(0, quit) : chunk
          if (bytes.length > 0) void port_.write(bytes)
          if (quit >= 0) resolve()
        })
        stdin.once('end', () => resolve())
      })
      if (stdin.isTTY) stdin.setRawMode(false)
      stdin.pause()
      await port_.close()
    },
  )
}
