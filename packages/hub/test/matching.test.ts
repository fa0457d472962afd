import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { PartInfo } from '@tether/directory'
import { hopcroftKarp, matchPlace, partSatisfies, specKey } from '../src/reservations/index.js'
import type { EnginePlace, PartRequirement } from '../src/reservations/types.js'

function part(name: string, compatible: string[], kinds: ('usb' | 'serial')[] = []): PartInfo {
  return { name, compatible, interfaces: kinds.map((kind, i) => ({ kind, name: `${kind}${i}` })) }
}

function place(parts: PartInfo[], tags: string[] = []): EnginePlace {
  return { id: 'lab/p', exporter: 'lab', name: 'p', tags, parts }
}

/** The first part that fits each requirement in turn, never revisited: what a greedy matcher does. */
function greedy(p: EnginePlace, reqs: PartRequirement[]): string[] | undefined {
  const used = new Set<string>()
  const out: string[] = []
  for (const req of reqs) {
    const found = p.parts.find((x) => !used.has(x.name) && partSatisfies(x, req))
    if (!found) return undefined
    used.add(found.name)
    out.push(found.name)
  }
  return out
}

/** Maximum matching size by trying every assignment (small graphs only). */
function bruteMax(adj: number[][], right: number): number {
  const used = new Array<boolean>(right).fill(false)
  const go = (l: number): number => {
    if (l === adj.length) return 0
    let best = go(l + 1)
    for (const r of adj[l]!) {
      if (used[r]) continue
      used[r] = true
      best = Math.max(best, 1 + go(l + 1))
      used[r] = false
    }
    return best
  }
  return go(0)
}

describe('partSatisfies', () => {
  it('needs every compatible and an interface of every kind', () => {
    const p = part('n', ['st,nucleo', 'st,stm32'], ['usb', 'serial'])
    assert.ok(partSatisfies(p, { compatible: ['st,stm32'] }))
    assert.ok(partSatisfies(p, { compatible: ['st,stm32', 'st,nucleo'], interfaces: ['serial'] }))
    assert.ok(partSatisfies(p, {}))
    assert.ok(!partSatisfies(p, { compatible: ['st,stm32', 'espressif,esp32'] }))
    assert.ok(!partSatisfies(part('x', ['st,stm32'], ['usb']), { interfaces: ['serial'] }))
  })
})

describe('matchPlace', () => {
  it('finds the assignment where greedy first-fit fails', () => {
    // Part "a" fits both requirements, "b" only the first; greedy gives "a" to the first and
    // then has nothing for the second.
    const p = place([part('a', ['x', 'y']), part('b', ['x'])])
    const reqs = [{ compatible: ['x'] }, { compatible: ['y'] }]
    assert.equal(greedy(p, reqs), undefined)
    assert.deepEqual(matchPlace(p, { parts: reqs }), ['b', 'a'])
  })

  it('follows a long augmenting path', () => {
    // r0: {p0,p1}, r1: {p1,p2}, r2: {p2,p3}, r3: {p0}; greedy takes p0,p1,p2 and strands r3.
    const p = place([
      part('p0', ['r0', 'r3']),
      part('p1', ['r0', 'r1']),
      part('p2', ['r1', 'r2']),
      part('p3', ['r2']),
    ])
    const reqs = ['r0', 'r1', 'r2', 'r3'].map((c) => ({ compatible: [c] }))
    assert.equal(greedy(p, reqs), undefined)
    assert.deepEqual(matchPlace(p, { parts: reqs }), ['p1', 'p2', 'p3', 'p0'])
  })

  it('matches interface kinds and tags', () => {
    const p = place([part('dbg', ['probe'], ['usb']), part('con', ['uart'], ['serial'])], ['rack-3', 'arm'])
    assert.deepEqual(
      matchPlace(p, { tags: ['arm'], parts: [{ interfaces: ['serial'] }, { interfaces: ['usb'] }] }),
      ['con', 'dbg'],
    )
    assert.deepEqual(matchPlace(p, { tags: ['rack-3'] }), [])
    assert.equal(matchPlace(p, { tags: ['rack-3', 'x86'] }), undefined)
  })

  it('reports no match: a requirement nothing fits, too many requirements, two needing one part', () => {
    const p = place([part('a', ['x']), part('b', ['z'])])
    assert.equal(matchPlace(p, { parts: [{ compatible: ['y'] }] }), undefined)
    assert.equal(matchPlace(p, { parts: [{}, {}, {}] }), undefined)
    // Hall's condition fails: both requirements fit only "a".
    assert.equal(matchPlace(p, { parts: [{ compatible: ['x'] }, { compatible: ['x'] }] }), undefined)
    assert.deepEqual(matchPlace(p, { parts: [{}, {}] }), ['a', 'b'])
  })

  it('hopcroftKarp finds a maximum matching on random graphs (against brute force)', () => {
    let seed = 42
    const random = () => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff
      return seed / 0x7fffffff
    }
    for (let round = 0; round < 300; round++) {
      const left = 1 + Math.floor(random() * 7)
      const right = 1 + Math.floor(random() * 7)
      const adj = Array.from({ length: left }, () => {
        const out: number[] = []
        for (let r = 0; r < right; r++) if (random() < 0.35) out.push(r)
        return out
      })
      const matched = hopcroftKarp(adj, right)
      const rights = [...matched].filter((r) => r !== -1)
      assert.equal(new Set(rights).size, rights.length, 'a right vertex matched twice')
      matched.forEach((r, l) => {
        if (r !== -1) assert.ok(adj[l]!.includes(r), 'matched along a missing edge')
      })
      assert.equal(rights.length, bruteMax(adj, right), `round ${round}: ${JSON.stringify(adj)}`)
    }
  })
})

describe('specKey', () => {
  it('is equal for specs that differ only in order and duplicates', () => {
    const a = specKey({ tags: ['b', 'a'], parts: [{ compatible: ['x', 'y'] }, { interfaces: ['usb'] }] })
    const b = specKey({ tags: ['a', 'b', 'a'], parts: [{ interfaces: ['usb'] }, { compatible: ['y', 'x'] }] })
    assert.equal(a, b)
    assert.notEqual(a, specKey({ tags: ['a', 'b'], parts: [{ interfaces: ['usb'] }, { compatible: ['x'] }] }))
    assert.notEqual(specKey({ parts: [{}] }), specKey({ parts: [{}, {}] }))
  })
})
