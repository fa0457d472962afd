import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { type ScriptedBoardOptions, ScriptedBoardPeer } from '../src/index.js'

/** A board wired to a fake port; `take()` returns (and clears) what it printed. */
function board(options: ScriptedBoardOptions = {}) {
  let out = ''
  const peer = new ScriptedBoardPeer({ clock: () => 0, ...options })
  const decoder = new TextDecoder()
  peer.attach({ write: (b) => (out += typeof b === 'string' ? b : decoder.decode(b)) })
  const type = (s: string) => peer.receive(new TextEncoder().encode(s))
  const take = () => {
    const got = out
    out = ''
    return got
  }
  return { peer, type, take }
}

describe('ScriptedBoardPeer', () => {
  it('boots on DTR rise only, not while DTR stays up', () => {
    const { peer, take } = board()
    assert.equal(take(), '', 'silent until the host opens the port')
    peer.controlLines({ dtr: true, rts: true })
    const banner = take()
    assert.match(banner, /Starting kernel/)
    assert.match(banner, /tether-board login:/)
    assert.ok(banner.endsWith('\r\nboard$ '))
    peer.controlLines({ dtr: true, rts: false })
    assert.equal(take(), '')
    peer.controlLines({ dtr: false, rts: false })
    peer.controlLines({ dtr: true, rts: false })
    assert.match(take(), /U-Boot/)
    assert.equal(peer.bootCount, 2)
  })

  it('can boot as soon as it is attached', () => {
    const { take } = board({ bootOn: 'attach' })
    assert.match(take(), /U-Boot/)
  })

  it('echoes typing, handles CR LF as one Enter, and answers commands', () => {
    const { peer, type, take } = board()
    peer.boot()
    take()
    type('echo   hello  "big world"\r\n')
    assert.equal(take(), 'echo   hello  "big world"\r\nhello big world\r\nboard$ ')
    type('cat /etc/hostname\n')
    assert.equal(take(), 'cat /etc/hostname\r\ntether-board\r\nboard$ ')
    type('frobnicate --now\r')
    assert.equal(take(), 'frobnicate --now\r\nsh: frobnicate: not found\r\nboard$ ')
    type('\r')
    assert.equal(take(), '\r\nboard$ ')
    type('help\r')
    assert.match(take(), /uname/)
  })

  it('edits with backspace and cancels with Ctrl-C', () => {
    const { peer, type, take } = board()
    peer.boot()
    take()
    type('unamx\x7fe\r')
    assert.equal(take(), 'unamx\b \be\r\nLinux\r\nboard$ ')
    type('\x08\x08')
    assert.equal(take(), '', 'backspace on an empty line does nothing')
    type('rm -rf /\x03')
    assert.equal(take(), 'rm -rf /^C\r\nboard$ ')
    type('\r')
    assert.equal(take(), '\r\nboard$ ', 'the cancelled line is gone')
  })

  it('reports uptime from the injected clock and reboots on request', () => {
    let now = 0
    const { peer, type, take } = board({ clock: () => now })
    peer.boot()
    take()
    now = 3 * 60_000 + 5_000
    type('uptime\r')
    assert.match(take(), / 00:03:05 up 3 min, {2}1 user/)
    now = 2 * 3600_000 + 7 * 60_000
    type('uptime\r')
    assert.match(take(), /up 2:07,/)
    type('reboot\r')
    const rebooted = take()
    assert.match(rebooted, /Restarting system[\s\S]*U-Boot[\s\S]*board\$ $/)
    assert.equal(peer.bootCount, 2)
  })

  it('can run without echo and goes quiet once detached', () => {
    const { peer, type, take } = board({ echo: false })
    peer.boot()
    take()
    type('hostname\r')
    assert.equal(take(), 'tether-board\r\nboard$ ')
    peer.detach()
    type('hostname\r')
    assert.equal(take(), '')
  })
})
