import type { Logger } from '@tether/usbip'

/** Resolves on the first SIGINT or SIGTERM: long-running commands then shut down cleanly. */
export function untilStopSignal(log: Logger): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const stop = (signal: NodeJS.Signals) => {
      log.info('stopping', { signal })
      resolve(signal)
    }
    process.once('SIGINT', stop)
    process.once('SIGTERM', stop)
  })
}
