/** The house logger (defined in @tether/usbip), re-exported so callers need one import. */
export { type LogFields, type Logger, silentLogger } from '@tether/usbip'
