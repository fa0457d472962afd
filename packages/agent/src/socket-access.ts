/**
 * Who may use an agent's control socket. By default only its owner (0600 in a 0700 directory).
 * A root agent started with a group (`tether agent --group lab`) lets that group's members attach
 * without sudo: they send their own login with each request, and the agent — root, so it can
 * hand devices to vhci_hcd — asks the hub for capabilities on their behalf. Members may also
 * detach and stop it: the group is trusted with the agent.
 */
import { accessSync, constants, existsSync, readFileSync } from 'node:fs'
import { AgentError } from './errors.js'

/** The socket of an agent run as root (a system agent). */
export const SYSTEM_SOCKET = '/run/tether/agent.sock'

/** A group name from /etc/group, or a numeric gid, as a gid. Throws ERR_BAD_REQUEST naming it. */
export function resolveGroup(spec: string, groupFile = '/etc/group'): number {
  if (/^\d+$/.test(spec)) return Number(spec)
  let text = ''
  try {
    text = readFileSync(groupFile, 'utf8')
  } catch (err) {
    throw new AgentError(
      'ERR_BAD_REQUEST',
      `cannot read ${groupFile} to find group ${spec}: ${(err as Error).message}`,
    )
  }
  for (const line of text.split('\n')) {
    const [name, , gid] = line.split(':')
    if (name === spec && gid !== undefined && /^\d+$/.test(gid)) return Number(gid)
  }
  throw new AgentError(
    'ERR_BAD_REQUEST',
    `no group ${spec} in ${groupFile}; create it (groupadd ${spec}) or give a numeric gid`,
  )
}

/** Whether this process may connect to the socket at `path` (it exists and is writable to us). */
export function mayConnect(path: string): boolean {
  try {
    if (!existsSync(path)) return false
    accessSync(path, constants.W_OK)
    return true
  } catch {
    return false
  }
}
