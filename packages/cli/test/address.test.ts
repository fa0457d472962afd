import assert from 'node:assert/strict'
import { test } from 'node:test'
import { CliUsageError, parseHostPort } from '../src/address.js'

test('host and port forms', () => {
  assert.deepEqual(parseHostPort('10.1.2.3:4000'), { host: '10.1.2.3', port: 4000 })
  assert.deepEqual(parseHostPort(':0'), { host: '127.0.0.1', port: 0 })
  assert.deepEqual(parseHostPort('lab-7'), { host: 'lab-7', port: 3240 })
  assert.deepEqual(parseHostPort('[::1]:99'), { host: '::1', port: 99 })
})

test('bad input names the fix', () => {
  assert.throws(() => parseHostPort('a:b:c'), CliUsageError)
  assert.throws(() => parseHostPort('h:70000'), /out of range/)
})
