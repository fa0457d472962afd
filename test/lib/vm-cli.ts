/**
 * Boots the test guest with a script file and prints its console as it runs (debugging aid).
 *
 *   node test/dist/lib/vm-cli.js [--port HOSTPORT] [--timeout SECONDS] [--memory MIB]
 *                                [--file NAME=PATH]... [--keep DIR] [--dmesg] [--errors] SCRIPT.sh
 *
 * --port      relay guest connections to 10.0.2.100:3240 onto 127.0.0.1:HOSTPORT
 * --file NAME=PATH  put a copy of host file PATH into the scratch dir as NAME (the guest sees
 *             the host's files read-only; the scratch dir is where it can write)
 * --keep DIR  copy the files the script left in $TETHER_SCRATCH (and dmesg) into DIR
 * --dmesg     print the guest kernel log afterwards
 * --errors    print what kernelErrors() finds in it
 * Exits with the guest script's exit code (125 when the rig itself failed).
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { parseArgs } from 'node:util'
import { GuestError, kernelErrors, runGuest } from './vm.js'

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    port: { type: 'string' },
    timeout: { type: 'string', default: '300' },
    memory: { type: 'string', default: '512' },
    keep: { type: 'string' },
    file: { type: 'string', multiple: true, default: [] },
    dmesg: { type: 'boolean', default: false },
    errors: { type: 'boolean', default: false },
  },
})

if (positionals.length !== 1) {
  process.stderr.write(
    'usage: vm-cli [--port P] [--timeout S] [--memory MIB] [--file NAME=PATH]... [--keep DIR] [--dmesg] [--errors] SCRIPT\n',
  )
  process.exit(2)
}

const files: Record<string, Buffer> = {}
for (const spec of values.file) {
  const eq = spec.indexOf('=')
  if (eq <= 0) {
    process.stderr.write(`vm-cli: --file wants NAME=PATH, not ${spec}\n`)
    process.exit(2)
  }
  files[spec.slice(0, eq)] = await readFile(spec.slice(eq + 1))
}

const controller = new AbortController()
process.once('SIGINT', () => controller.abort(new Error('interrupted')))

try {
  const result = await runGuest({
    script: await readFile(positionals[0]!, 'utf8'),
    hostPort: values.port === undefined ? undefined : Number(values.port),
    timeoutMs: Number(values.timeout) * 1000,
    memoryMiB: Number(values.memory),
    signal: controller.signal,
    files,
    onOutput: (text) => process.stdout.write(text),
  })
  if (values.keep) {
    for (const [name, content] of Object.entries({ ...result.files, dmesg: Buffer.from(result.dmesg) })) {
      const path = join(values.keep, name)
      await mkdir(dirname(path), { recursive: true })
      await writeFile(path, content)
    }
  }
  if (values.dmesg) process.stdout.write(`--- dmesg ---\n${result.dmesg}\n`)
  if (values.errors) {
    const errors = kernelErrors(result.dmesg)
    process.stdout.write(`--- kernelErrors: ${errors.length} ---\n${errors.join('\n')}\n`)
  }
  process.stderr.write(
    `vm-cli: guest script exited ${result.exitCode} after ${Math.round(result.durationMs)} ms\n`,
  )
  process.exit(result.exitCode)
} catch (err) {
  process.stderr.write(`vm-cli: ${err instanceof GuestError ? err.message.split('\n')[0] : String(err)}\n`)
  process.exit(125)
}
