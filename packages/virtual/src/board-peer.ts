/**
 * A pretend embedded board on the far end of the serial console: boot banner, a prompt, and a
 * handful of shell commands. It behaves like a tty in cooked mode on the board side (echoes
 * what is typed, edits with backspace, runs the line on Enter), and is fully deterministic:
 * output happens synchronously in response to input, and time comes from an injected clock.
 *
 * Like a real board console, it expects the host side to be in raw mode without local echo
 * (picocom, pyserial, `stty raw -echo`): a host tty that echoes the banner back would make the
 * board run the banner as commands, exactly as a real board shell would.
 */
import type { ControlLines, SerialPeer, SerialPort } from './serial.js'

export interface ScriptedBoardOptions {
  readonly hostname?: string
  readonly prompt?: string
  /** When the board "boots": on the host raising DTR (opening the tty), or as soon as attached. */
  readonly bootOn?: 'dtr' | 'attach'
  /** Echo typed characters back, as the board's tty would. Default true. */
  readonly echo?: boolean
  /** Milliseconds since the epoch; used by `uptime`. Default Date.now. */
  readonly clock?: () => number
}

const KERNEL_RELEASE = '6.1.0-tether'
const MACHINE = 'armv7l'
const CR = 0x0d
const LF = 0x0a
const BACKSPACE = 0x08
const DELETE = 0x7f
const CTRL_C = 0x03
const CTRL_U = 0x15
const NL = '\r\n'

export class ScriptedBoardPeer implements SerialPeer {
  readonly hostname: string
  readonly prompt: string
  readonly #bootOn: 'dtr' | 'attach'
  readonly #echo: boolean
  readonly #clock: () => number
  readonly #decoder = new TextDecoder()
  #port: SerialPort | undefined
  #dtr = false
  #line: number[] = []
  #lastWasCR = false
  #bootedAt = 0
  #boots = 0

  constructor(options: ScriptedBoardOptions = {}) {
    this.hostname = options.hostname ?? 'tether-board'
    this.prompt = options.prompt ?? 'board$ '
    this.#bootOn = options.bootOn ?? 'dtr'
    this.#echo = options.echo ?? true
    this.#clock = options.clock ?? Date.now
  }

  /** How many times the board has booted (initial boot and reboots). */
  get bootCount(): number {
    return this.#boots
  }

  attach(port: SerialPort): void {
    this.#port = port
    this.#dtr = false
    this.#line = []
    if (this.#bootOn === 'attach') this.boot()
  }

  detach(): void {
    this.#port = undefined
    this.#dtr = false
  }

  controlLines(lines: ControlLines): void {
    const raised = lines.dtr && !this.#dtr
    this.#dtr = lines.dtr
    // Many boards (and USB-serial bridges wired to reset) restart when the port is opened.
    if (raised && this.#bootOn === 'dtr') this.boot()
  }

  /** Print the boot banner and a fresh prompt; forget any half-typed line. */
  boot(): void {
    this.#boots++
    this.#bootedAt = this.#clock()
    this.#line = []
    this.#lastWasCR = false
    this.#write(this.#banner())
    this.#write(this.prompt)
  }

  receive(bytes: Uint8Array): void {
    for (const byte of bytes) this.#typed(byte)
  }

  #typed(byte: number): void {
    const afterCR = this.#lastWasCR
    this.#lastWasCR = byte === CR
    if (byte === LF && afterCR) return // CR LF is one Enter
    if (byte === CR || byte === LF) {
      if (this.#echo) this.#write(NL)
      const line = this.#decoder.decode(Uint8Array.from(this.#line))
      this.#line = []
      this.#run(line)
      return
    }
    if (byte === BACKSPACE || byte === DELETE) {
      if (this.#line.length > 0) {
        this.#line.pop()
        if (this.#echo) this.#write('\b \b')
      }
      return
    }
    if (byte === CTRL_C) {
      this.#line = []
      this.#write(`^C${NL}${this.prompt}`)
      return
    }
    if (byte === CTRL_U) {
      if (this.#echo) this.#write('\b \b'.repeat(this.#line.length))
      this.#line = []
      return
    }
    if (byte < 0x20) return // other control characters do nothing
    this.#line.push(byte)
    if (this.#echo) this.#port?.write(Uint8Array.of(byte))
  }

  #run(line: string): void {
    const argv = splitWords(line)
    const [command, ...args] = argv
    if (command === 'reboot') {
      this.#write(`reboot: Restarting system${NL}`)
      this.boot()
      return
    }
    const output = command === undefined ? '' : this.#execute(command, args)
    this.#write(output + this.prompt)
  }

  /** The command's output, each line ending in CR LF. */
  #execute(command: string, args: readonly string[]): string {
    const lines = (...text: string[]): string => text.map((t) => t + NL).join('')
    switch (command) {
      case 'help':
        return lines(
          'Commands:',
          '  help              this text',
          '  uname [-a|-s|-n|-r|-m]',
          '  uptime',
          '  echo [text]',
          '  cat /etc/hostname',
          '  hostname',
          '  reboot',
        )
      case 'uname':
        return lines(this.#uname(args[0]))
      case 'uptime':
        return lines(this.#uptime())
      case 'echo':
        return lines(args.join(' '))
      case 'hostname':
        return lines(this.hostname)
      case 'cat':
        return args.map((path) => lines(this.#cat(path))).join('')
      default:
        return lines(`sh: ${command}: not found`)
    }
  }

  #uname(flag: string | undefined): string {
    switch (flag) {
      case undefined:
      case '-s':
        return 'Linux'
      case '-n':
        return this.hostname
      case '-r':
        return KERNEL_RELEASE
      case '-m':
        return MACHINE
      case '-a':
        return `Linux ${this.hostname} ${KERNEL_RELEASE} #1 SMP PREEMPT Mon Jan  1 00:00:00 UTC 2024 ${MACHINE} GNU/Linux`
      default:
        return `uname: invalid option -- '${flag.replace(/^-+/, '')}'`
    }
  }

  #cat(path: string): string {
    switch (path) {
      case '/etc/hostname':
        return this.hostname
      case '/proc/version':
        return `Linux version ${KERNEL_RELEASE} (tether@virtual) #1 SMP PREEMPT (fake board)`
      default:
        return `cat: ${path}: No such file or directory`
    }
  }

  #uptime(): string {
    const now = this.#clock()
    const elapsedMinutes = Math.max(0, Math.floor((now - this.#bootedAt) / 60_000))
    const days = Math.floor(elapsedMinutes / 1440)
    const hours = Math.floor((elapsedMinutes % 1440) / 60)
    const minutes = elapsedMinutes % 60
    const dayPart = days > 0 ? `${days} day${days === 1 ? '' : 's'}, ` : ''
    const timePart = hours > 0 ? `${hours}:${String(minutes).padStart(2, '0')}` : `${minutes} min`
    const clock = new Date(now).toISOString().slice(11, 19)
    return ` ${clock} up ${dayPart}${timePart},  1 user,  load average: 0.00, 0.00, 0.00`
  }

  #banner(): string {
    return [
      '',
      'U-Boot 2024.01-tether (Jan 01 2024 - 00:00:00 +0000)',
      '',
      'Model: Tether Virtual Board (simulated, not real hardware)',
      'DRAM:  256 MiB',
      'Hit any key to stop autoboot:  0',
      'Starting kernel ...',
      '',
      `[    0.000000] Linux version ${KERNEL_RELEASE} (tether@virtual) #1 SMP PREEMPT`,
      '[    0.412000] Run /sbin/init as init process',
      '',
      `${this.hostname} login: root (automatic login)`,
      '',
      '',
    ].join(NL)
  }

  #write(text: string): void {
    this.#port?.write(text)
  }
}

/** Shell-ish word splitting: whitespace separates words, quotes group them (no escapes). */
function splitWords(line: string): string[] {
  const words: string[] = []
  let word: string | undefined
  let quote: string | undefined
  for (const c of line) {
    if (quote) {
      if (c === quote) quote = undefined
      else word += c
    } else if (c === '"' || c === "'") {
      quote = c
      word ??= ''
    } else if (/\s/.test(c)) {
      if (word !== undefined) words.push(word)
      word = undefined
    } else {
      word = (word ?? '') + c
    }
  }
  if (word !== undefined) words.push(word)
  return words
}
