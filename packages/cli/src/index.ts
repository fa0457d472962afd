/** @tether/cli — the `tether` command line; see main.ts. */
export { type AcmPort, openAcmPort } from './acm-host.js'
export { CliUsageError, parseHostPort } from './address.js'
