/**
 * A root agent started with --group lets that group's members use it without sudo: its socket is
 * 0660 and its directory 0750, both in the group; a member (`setpriv` to nobody with the group)
 * gets `tether status`; a non-member is refused with a message naming the fix. Needs root (CI is).
 */
import assert from 'node:assert/strict'
import { type ChildProcess, execFile, spawn } from 'node:child_process'
import { chmod, mkdtemp, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'

const MAIN = fileURLToPath(new URL('../src/main.js', import.meta.url))
const NOBODY = '65534'
const GROUP = 100 // "users" on Debian

function runAs(groups: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const who = ['--reuid', NOBODY, '--regid', NOBODY, ...(groups ? ['--groups', groups] : ['--clear-groups'])]
  return new Promise((resolve) => {
    execFile(
      'setpriv',
      [...who, process.execPath, MAIN, ...args],
      { env: { PATH: process.env.PATH, HOME: '/tmp' }, timeout: 30_000 },
      (err, stdout, stderr) => resolve({ code: err ? Number(err.code ?? 1) : 0, stdout, stderr }),
    )
  })
}

describe('tether agent --group: members attach without sudo', { timeout: 60_000 }, () => {
  let dir = ''
  let agent: ChildProcess | undefined
  let socket = ''

  before(async () => {
    assert.equal(process.getuid?.(), 0, 'this test needs root (it starts a root agent and drops to nobody)')
    dir = await mkdtemp(join(tmpdir(), 'tether-agent-group-'))
    await chmod(dir, 0o755)
    socket = join(dir, 'run', 'agent.sock')
    agent = spawn(
      process.execPath,
      [
        MAIN,
        'agent',
        '--socket',
        socket,
        '--group',
        'users',
        '--identity',
        join(dir, 'agent.key'),
        '--listen',
        '/ip4/127.0.0.1/tcp/0',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    )
    let out = ''
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`the agent did not start:\n${out}`)), 30_000)
      const seen = (chunk: Buffer) => {
        out += chunk.toString()
        if (/ready on .*\(group users may use it\)/.test(out)) {
          clearTimeout(timer)
          resolve()
        }
      }
      agent?.stdout?.on('data', seen)
      agent?.stderr?.on('data', seen)
      agent?.once('exit', (code) => reject(new Error(`the agent exited ${code}:\n${out}`)))
    })
  })

  after(async () => {
    agent?.kill('SIGTERM')
    if (agent && agent.exitCode === null) await new Promise((r) => agent?.once('exit', r))
    if (dir) await rm(dir, { recursive: true, force: true })
  })

  it('the socket is 0660 and its directory 0750, both in the group', async () => {
    const s = await stat(socket)
    assert.equal(s.mode & 0o777, 0o660)
    assert.equal(s.gid, GROUP)
    const d = await stat(join(dir, 'run'))
    assert.equal(d.mode & 0o777, 0o750)
    assert.equal(d.gid, GROUP)
  })

  it('a member of the group uses the root agent', async () => {
    const r = await runAs(String(GROUP), ['status', '--json', '--socket', socket])
    assert.equal(r.code, 0, r.stderr)
    assert.deepEqual(JSON.parse(r.stdout).attachments, [])
  })

  it('anyone else is refused, told how to get in', async () => {
    const r = await runAs('', ['status', '--socket', socket])
    assert.equal(r.code, 1, r.stdout)
    assert.match(
      r.stderr,
      /permission denied on the agent's socket .*tether agent --group.*\(ERR_AGENT_DENIED\)/,
    )
  })
})
