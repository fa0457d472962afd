/**
 * `@tether/agent/client`: what a CLI needs to talk to a running agent over its control socket.
 * Kept apart from the package root so that loading it does not load libp2p.
 */
export { type ControlEvent, type ControlRequest, callAgent, defaultSocketPath } from './control.js'
export { AgentError, isAgentError } from './errors.js'
