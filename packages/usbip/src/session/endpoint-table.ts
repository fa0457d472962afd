/** Which endpoints exist right now: follows SET_CONFIGURATION and SET_INTERFACE as they succeed. */
import type { DeviceDescriptors } from '../backend.js'
import {
  type ConfigurationInfo,
  type EndpointInfo,
  parseConfigurationDescriptor,
  parseDeviceDescriptor,
} from '../descriptor-parser.js'

export class EndpointTable {
  readonly maxPacketSize0: number
  private readonly configurations: readonly ConfigurationInfo[]
  private active: ConfigurationInfo | undefined
  private readonly altByInterface = new Map<number, number>()
  private endpoints = new Map<number, EndpointInfo>()

  constructor(descriptors: DeviceDescriptors, initialConfiguration: number) {
    this.maxPacketSize0 = parseDeviceDescriptor(descriptors.device).maxPacketSize0
    this.configurations = descriptors.configurations.map(parseConfigurationDescriptor)
    this.setConfiguration(initialConfiguration)
  }

  get configurationValue(): number {
    return this.active?.configurationValue ?? 0
  }

  get activeConfiguration(): ConfigurationInfo | undefined {
    return this.active
  }

  /** Returns false when no configuration has that value (the request must stall). */
  setConfiguration(value: number): boolean {
    if (value === 0) {
      this.active = undefined
    } else {
      const found = this.configurations.find((c) => c.configurationValue === value)
      if (!found) return false
      this.active = found
    }
    this.altByInterface.clear()
    this.rebuild()
    return true
  }

  hasAltSetting(interfaceNumber: number, alternateSetting: number): boolean {
    return (
      this.active?.altSettings.some(
        (a) => a.interfaceNumber === interfaceNumber && a.alternateSetting === alternateSetting,
      ) ?? false
    )
  }

  setInterface(interfaceNumber: number, alternateSetting: number): boolean {
    if (!this.hasAltSetting(interfaceNumber, alternateSetting)) return false
    this.altByInterface.set(interfaceNumber, alternateSetting)
    this.rebuild()
    return true
  }

  /** The endpoint for a header's (ep, direction); ep 0 is always control. */
  lookup(ep: number, directionIn: boolean): EndpointInfo | undefined {
    if (ep === 0) {
      return {
        address: directionIn ? 0x80 : 0,
        type: 'control',
        maxPacketSize: this.maxPacketSize0,
        interval: 0,
      }
    }
    return this.endpoints.get(ep | (directionIn ? 0x80 : 0))
  }

  private rebuild(): void {
    this.endpoints = new Map()
    for (const alt of this.active?.altSettings ?? []) {
      if ((this.altByInterface.get(alt.interfaceNumber) ?? 0) !== alt.alternateSetting) continue
      for (const endpoint of alt.endpoints) this.endpoints.set(endpoint.address, endpoint)
    }
  }
}
