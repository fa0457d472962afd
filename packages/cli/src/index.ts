/** @tether/cli — the `tether` command line; see main.ts. */
export { openAcmPort, type AcmPort } from './acm-host.js'
export { parseHostPort, CliUsageError } from './address.js'
