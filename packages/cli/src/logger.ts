/** The CLI's logger: human lines or JSON lines on stderr, so stdout stays for results. */
import type { LogFields, Logger } from '@tether/usbip'

export type LogFormat = 'human' | 'json'
export type LogLevel = 'debug' | 'info' | 'warn' | 'error'

const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 }

export function createCliLogger(options: { format: LogFormat; level: LogLevel; scope?: string }): Logger {
  const write = (level: LogLevel, message: string, fields: LogFields = {}) => {
    if (ORDER[level] < ORDER[options.level]) return
    if (options.format === 'json') {
      const line = { time: new Date().toISOString(), level, scope: options.scope, message, ...fields }
      process.stderr.write(`${JSON.stringify(line)}\n`)
      return
    }
    const extras = Object.entries(fields)
      .map(([key, value]) => `${key}=${typeof value === 'string' ? value : JSON.stringify(value)}`)
      .join(' ')
    const scope = options.scope ? `${options.scope}: ` : ''
    process.stderr.write(`${level.padEnd(5)} ${scope}${message}${extras ? ` ${extras}` : ''}\n`)
  }
  return {
    debug: (m, f) => write('debug', m, f),
    info: (m, f) => write('info', m, f),
    warn: (m, f) => write('warn', m, f),
    error: (m, f) => write('error', m, f),
    child: (scope) => createCliLogger({ ...options, scope }),
  }
}
