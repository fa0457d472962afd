import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { parseConfigurationDescriptor } from '@tether/usbip'
import {
  ConfigAttributes,
  classInterfaceDescriptor,
  configurationDescriptor,
  DescriptorType,
  decodeStringDescriptor,
  deviceDescriptor,
  deviceQualifierFrom,
  endpointDescriptor,
  fullSpeedConfigurationFrom,
  interfaceAssociationDescriptor,
  interfaceBlock,
  languageTableDescriptor,
  stringDescriptor,
  stringTable,
} from '../src/index.js'

describe('descriptor builder', () => {
  it('builds an 18-byte device descriptor with little-endian ids', () => {
    const d = deviceDescriptor({
      vendorId: 0x0525,
      productId: 0xa4a0,
      numConfigurations: 2,
      deviceClass: 0xff,
    })
    assert.equal(d.length, 18)
    assert.deepEqual([...d.subarray(0, 2)], [18, DescriptorType.DEVICE])
    assert.deepEqual([...d.subarray(2, 4)], [0x00, 0x02]) // bcdUSB 2.00
    assert.equal(d[4], 0xff)
    assert.equal(d[7], 64)
    assert.deepEqual([...d.subarray(8, 12)], [0x25, 0x05, 0xa0, 0xa4])
    assert.equal(d[17], 2)
  })

  it('computes wTotalLength and bNumInterfaces (alternate settings count once)', () => {
    const bulk = (address: number) => endpointDescriptor({ address, type: 'bulk', maxPacketSize: 512 })
    const config = configurationDescriptor(
      { configurationValue: 1, attributes: ConfigAttributes.SELF_POWERED },
      [
        interfaceAssociationDescriptor({ firstInterface: 0, interfaceCount: 2, functionClass: 2 }),
        interfaceBlock(
          { interfaceNumber: 0, interfaceClass: 2 },
          { classSpecific: [classInterfaceDescriptor(0, [0x10, 1])] },
        ),
        interfaceBlock({ interfaceNumber: 1, interfaceClass: 0x0a }, { endpoints: [bulk(0x81), bulk(0x02)] }),
        interfaceBlock(
          { interfaceNumber: 1, alternateSetting: 1, interfaceClass: 0x0a },
          { endpoints: [bulk(0x81)] },
        ),
      ],
    )
    const expected = 9 + 8 + (9 + 5) + (9 + 14) + (9 + 7)
    assert.equal(config.length, expected)
    const parsed = parseConfigurationDescriptor(config)
    assert.equal(parsed.totalLength, expected)
    assert.equal(parsed.numInterfaces, 2)
    assert.equal(parsed.attributes, 0xc0)
    assert.equal(parsed.altSettings.length, 3)
    assert.equal(parsed.altSettings[1]?.endpoints.length, 2)
    assert.equal(config[9 + 8 + 4], 0, 'bNumEndpoints of the endpoint-less interface')
    assert.equal(parsed.altSettings[0]?.extra[0]?.type, DescriptorType.CS_INTERFACE)
    assert.equal(parsed.associations[0]?.interfaceCount, 2)
  })

  it('encodes strings as UTF-16LE and a language table', () => {
    const s = stringDescriptor('Zé')
    assert.deepEqual([...s], [6, 3, 0x5a, 0, 0xe9, 0])
    assert.equal(decodeStringDescriptor(s), 'Zé')
    assert.deepEqual([...languageTableDescriptor()], [4, 3, 0x09, 0x04])
    const table = stringTable(['a', 'b'])
    assert.equal(decodeStringDescriptor(table.get(2)!), 'b')
    assert.equal(table.get(0)?.length, 4)
  })

  it('derives a device qualifier and a full-speed other-speed configuration', () => {
    const device = deviceDescriptor({ vendorId: 1, productId: 2, numConfigurations: 3, deviceClass: 0xef })
    const q = deviceQualifierFrom(device)
    assert.deepEqual([...q], [10, 6, 0x00, 0x02, 0xef, 0, 0, 64, 3, 0])

    const hs = configurationDescriptor({ configurationValue: 1 }, [
      interfaceBlock(
        { interfaceNumber: 0, interfaceClass: 0xff },
        {
          endpoints: [
            endpointDescriptor({ address: 0x81, type: 'bulk', maxPacketSize: 512 }),
            endpointDescriptor({ address: 0x83, type: 'interrupt', maxPacketSize: 16, interval: 9 }),
          ],
        },
      ),
    ])
    const fs = fullSpeedConfigurationFrom(hs)
    assert.equal(fs[1], DescriptorType.OTHER_SPEED_CONFIGURATION)
    const parsed = parseConfigurationDescriptor(Uint8Array.of(9, 2, ...fs.subarray(2)))
    assert.equal(parsed.altSettings[0]?.endpoints[0]?.maxPacketSize, 64)
    assert.equal(parsed.altSettings[0]?.endpoints[1]?.interval, 32) // 2^8 microframes = 32 frames
  })

  it('rejects values that do not fit their fields', () => {
    assert.throws(() => interfaceBlock({ interfaceNumber: 256, interfaceClass: 0 }, {}), RangeError)
    assert.throws(() => stringDescriptor('x'.repeat(127)), RangeError)
  })
})
