import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import {
  closestMatch,
  describeValue,
  editDistance,
  formatIssues,
  IssueList,
  joinPath,
  parseTomlTable,
  TableReader,
  type TomlTable,
} from '../src/index.js'

function read(text: string, known: readonly string[]): { reader: TableReader; issues: IssueList } {
  const issues = new IssueList()
  const table = parseTomlTable(text, issues)
  assert.ok(table, `not TOML: ${JSON.stringify(issues.issues)}`)
  return { reader: new TableReader(table, '', issues, known), issues }
}

function messages(issues: IssueList): string[] {
  return issues.issues.map((i) => `${i.path}: ${i.message}`)
}

describe('parseTomlTable', () => {
  test('returns the top-level table', () => {
    const issues = new IssueList()
    const table = parseTomlTable('a = 1\n[b]\nc = "x"\n', issues)
    assert.deepEqual(JSON.parse(JSON.stringify(table)), { a: 1, b: { c: 'x' } })
    assert.deepEqual(issues.issues, [])
  })

  test('a syntax error is one issue at its line and column', () => {
    const issues = new IssueList()
    assert.equal(parseTomlTable('a = 1\nb = = 2\n', issues), undefined)
    assert.equal(issues.issues.length, 1)
    assert.match(issues.issues[0]!.path, /^line 2, column \d+$/)
    assert.match(issues.issues[0]!.message, /^not valid TOML: /)
    assert.ok(!issues.issues[0]!.message.includes('\n'))
  })
})

describe('TableReader', () => {
  test('unknown keys name the known ones, and a near miss as "did you mean"', () => {
    const { issues } = read('nmae = "x"\ncolour = 1\n"odd key" = 2\n', ['name', 'tags'])
    assert.deepEqual(messages(issues), [
      'nmae: unknown key; did you mean name? known keys here: name, tags',
      'colour: unknown key; known keys here: name, tags',
      '"odd key": unknown key; known keys here: name, tags',
    ])
  })

  test('strings: missing, wrong type, empty, too long, pattern, each with the hint', () => {
    const { reader, issues } = read('b = 1\nc = ""\nd = "abcdef"\ne = "A"\nf = ""\n', [
      'a',
      'b',
      'c',
      'd',
      'e',
      'f',
    ])
    assert.equal(reader.string('a', { required: true, hint: 'e.g. a = "x"' }), undefined)
    assert.equal(reader.string('b'), undefined)
    assert.equal(reader.string('c', { nonEmpty: true }), undefined)
    assert.equal(reader.string('d', { maxLength: 3 }), undefined)
    assert.equal(reader.string('e', { pattern: /^[a-z]$/, hint: 'lower case' }), undefined)
    assert.equal(reader.string('f'), '')
    assert.deepEqual(messages(issues), [
      'a: is missing; add a = "..."; e.g. a = "x"',
      'b: must be a string, not number 1',
      'c: is empty',
      'd: is 6 characters long; at most 3',
      'e: "A" is not allowed; lower case',
    ])
  })

  test('choice, integer and boolean', () => {
    const { reader, issues } = read('k = "usb"\nbad = "can"\nn = 7\nb = "yes"\nt = true\n', [
      'k',
      'bad',
      'n',
      'b',
      't',
      'missing',
    ])
    assert.equal(reader.choice('k', ['usb', 'serial'] as const), 'usb')
    assert.equal(reader.choice('absent', ['usb', 'serial'] as const, 'serial'), 'serial')
    assert.equal(reader.choice('missing', ['usb', 'serial'] as const), undefined)
    assert.equal(reader.choice('bad', ['usb', 'serial'] as const), undefined)
    assert.equal(reader.integer('n', { min: 0, max: 5, hint: 'small' }), undefined)
    assert.equal(reader.boolean('b'), undefined)
    assert.equal(reader.boolean('t'), true)
    assert.deepEqual(messages(issues), [
      'missing: is missing; add missing = "usb" (one of "usb", "serial")',
      'bad: string "can" is not one of "usb", "serial"',
      'n: must be an integer from 0 to 5, not number 7; small',
      'b: must be true or false, not string "yes"',
    ])
  })

  test('string arrays: every element checked, duplicates refused, undefined when broken', () => {
    const check = (item: string) => (/^[a-z]+$/.test(item) ? undefined : `${JSON.stringify(item)} is odd`)
    const rule = { max: 4, check, example: 'tags = ["a"]' }
    const { reader, issues } = read(
      'ok = ["a", "b"]\nbad = ["a", 1, "B", "a"]\nnot = "a"\nlong = ["a", "b", "c", "d", "e"]\n',
      ['ok', 'bad', 'not', 'long'],
    )
    assert.deepEqual(reader.stringArray('ok', rule), ['a', 'b'])
    assert.equal(reader.stringArray('absent', rule), undefined)
    assert.equal(reader.stringArray('bad', rule), undefined)
    assert.equal(reader.stringArray('not', rule), undefined)
    assert.equal(reader.stringArray('long', rule), undefined)
    assert.deepEqual(messages(issues), [
      'bad[1]: must be a string, not number 1',
      'bad[2]: "B" is odd',
      'bad[3]: "a" is listed twice; remove one',
      'not: must be an array of strings, not string "a"; e.g. tags = ["a"]',
      'long: has 5 entries; at most 4',
    ])
  })

  test('sub-tables and arrays of tables carry indexed key paths', () => {
    const { reader, issues } = read('hub = 1\n[[place]]\nname = "a"\n[[place]]\nname = "b"\n[net]\nx = 1\n', [
      'hub',
      'place',
      'net',
      'many',
    ])
    assert.equal(reader.subTable('hub'), undefined)
    const net = reader.subTable('net') as TomlTable
    const nested = new TableReader(net, reader.at('net'), issues, [])
    assert.equal(nested.at('x'), 'net.x')
    const places = reader.tables('place', 5)
    assert.deepEqual(
      places.map((p) => p.path),
      ['place[0]', 'place[1]'],
    )
    assert.deepEqual(reader.tables('place', 1), [])
    const mixed = read('many = [{ a = 1 }, 2]\n', ['many'])
    assert.equal(mixed.reader.tables('many', 5).length, 1)
    assert.deepEqual(messages(issues), [
      'hub: must be a table ([hub]), not number 1',
      'net.x: unknown key; known keys here: ',
      'place: has 2 entries; at most 1',
    ])
    assert.deepEqual(messages(mixed.issues), ['many[1]: must be a table ([[many]]), not number 2'])
  })
})

describe('helpers', () => {
  test('joinPath quotes keys TOML could not write bare', () => {
    assert.equal(joinPath('', 'a'), 'a')
    assert.equal(joinPath('rule[0].match', 'https://x/groups'), 'rule[0].match."https://x/groups"')
  })

  test('describeValue', () => {
    assert.equal(describeValue([1]), 'an array')
    assert.equal(describeValue({}), 'a table')
    assert.equal(describeValue(new Date(0)), 'a date')
    assert.equal(describeValue(3n), 'integer 3')
    assert.equal(describeValue('x'), 'string "x"')
  })

  test('closestMatch picks the single nearest key within two edits', () => {
    assert.equal(editDistance('kitten', 'sitting'), 3)
    assert.equal(closestMatch('clientid', ['client_id', 'url']), 'client_id')
    assert.equal(closestMatch('Places', ['places', 'tags']), 'places')
    assert.equal(closestMatch('zzzzzz', ['places', 'tags']), undefined)
    assert.equal(closestMatch('ab', ['ac', 'ad']), undefined)
  })

  test('formatIssues: one line for one problem, else a count and one line each', () => {
    assert.equal(formatIssues('/f.toml', [{ path: 'a', message: 'bad' }]), '/f.toml: a: bad')
    assert.equal(
      formatIssues('/f.toml', [
        { path: 'a', message: 'bad' },
        { path: 'b', message: 'worse' },
      ]),
      '/f.toml: 2 problems:\n  /f.toml: a: bad\n  /f.toml: b: worse',
    )
  })
})
