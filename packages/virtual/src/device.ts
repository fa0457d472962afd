/**
 * Base class for virtual devices. It plays the part of a device's chapter-9 firmware: answers
 * standard requests on ep0, tracks configuration, alternate settings and endpoint halts, and
 * hands class/vendor requests and data transfers to the model.
 *
 * Data transfers are serialized per endpoint: the model only ever sees the oldest unfinished
 * transfer of an endpoint (its "active" transfer), so completions on one endpoint always come
 * back in submission order, and an IN transfer can simply stay pending until data exists.
 */
import {
  type BackendCompletion,
  type BackendRequest,
  type CompletionCallback,
  type ConfigurationInfo,
  type DeviceDescriptors,
  type DeviceIdentity,
  type EndpointInfo,
  Errno,
  type Logger,
  parseConfigurationDescriptor,
  Speed,
  type SpeedValue,
  silentLogger,
  type TransferRequest,
  type UsbDeviceBackend,
} from '@tether/usbip'
import {
  CONTROL_ACK,
  CONTROL_STALL,
  type ControlReply,
  controlData,
  FeatureSelector,
  isDeviceToHost,
  parseSetup,
  RequestType,
  recipient,
  requestKind,
  type SetupPacket,
  StandardRequest,
} from './control.js'
import { DescriptorType, deviceQualifierFrom, fullSpeedConfigurationFrom } from './descriptors.js'
import { EMPTY, PendingTransfer } from './pending.js'

export interface VirtualDeviceOptions {
  /** USB/IP bus id, e.g. "1-1". */
  readonly busid?: string
  readonly busnum?: number
  readonly devnum?: number
  /** Sysfs-like path shown in device lists; derived from busid by default. */
  readonly path?: string
  readonly speed?: SpeedValue
  /** Where the model reports oddities (stalls it chose, model bugs, medium errors). Default: silent. */
  readonly logger?: Logger
}

interface EndpointQueue {
  readonly waiting: PendingTransfer[]
  active: PendingTransfer | undefined
  /** True while the pump loop runs for this endpoint (re-entrancy guard). */
  pumping: boolean
  /** A kick arrived while the model was already handling the active transfer. */
  rekick: boolean
}

export abstract class VirtualDevice implements UsbDeviceBackend {
  readonly identity: DeviceIdentity
  protected readonly log: Logger
  abstract readonly descriptors: DeviceDescriptors
  abstract readonly description: string

  #configurationValue = 0
  readonly #alternateSettings = new Map<number, number>()
  readonly #halted = new Set<number>()
  readonly #queues = new Map<number, EndpointQueue>()
  /** Every unfinished transfer by seqnum, in submission order. */
  readonly #inflight = new Map<number, PendingTransfer>()
  readonly #goneListeners = new Set<(reason: string) => void>()
  #remoteWakeup = false
  #parsedConfigurations: readonly ConfigurationInfo[] | undefined

  constructor(options: VirtualDeviceOptions = {}) {
    const busid = options.busid ?? '1-1'
    this.log = options.logger ?? silentLogger
    this.identity = {
      busid,
      busnum: options.busnum ?? 1,
      devnum: options.devnum ?? 2,
      path: options.path ?? `/sys/devices/platform/tether-virtual/usb1/${busid}`,
      speed: options.speed ?? Speed.HIGH,
    }
  }

  // ---- UsbDeviceBackend -------------------------------------------------------------------

  submit(request: BackendRequest, done: CompletionCallback): void {
    switch (request.kind) {
      case 'set-configuration':
        done({ status: this.#setConfiguration(request.configurationValue) ? 0 : Errno.EPIPE })
        return
      case 'set-interface':
        done({
          status: this.#setInterface(request.interfaceNumber, request.alternateSetting) ? 0 : Errno.EPIPE,
        })
        return
      case 'clear-halt':
        done({ status: this.#clearHalt(request.endpointAddress) ? 0 : Errno.EPIPE })
        return
      case 'transfer':
        this.#submitTransfer(request, done)
        return
    }
  }

  /** Complete a still-pending transfer with ECONNRESET; a finished or unknown seqnum is ignored. */
  cancel(seqnum: number): void {
    this.#inflight.get(seqnum)?.fail(Errno.ECONNRESET)
  }

  open(): void {
    this.#abortAll(Errno.ECONNRESET)
    this.#resetChapter9State()
    this.onOpen()
  }

  /** Completes every pending transfer with ECONNRESET (in submission order), then resets state. */
  close(): void {
    this.#abortAll(Errno.ECONNRESET)
    this.#resetChapter9State()
    this.onClose()
  }

  onGone(listener: (reason: string) => void): () => void {
    this.#goneListeners.add(listener)
    return () => this.#goneListeners.delete(listener)
  }

  // ---- state a model may read ---------------------------------------------------------------

  /** The active bConfigurationValue; 0 while unconfigured. */
  get configurationValue(): number {
    return this.#configurationValue
  }

  alternateSetting(interfaceNumber: number): number {
    return this.#alternateSettings.get(interfaceNumber) ?? 0
  }

  isHalted(endpointAddress: number): boolean {
    return this.#halted.has(endpointAddress)
  }

  /** How many transfers are submitted and not yet completed (all endpoints). */
  get pendingCount(): number {
    return this.#inflight.size
  }

  // ---- hooks for models ---------------------------------------------------------------------

  /**
   * Called with the oldest unfinished transfer of a data endpoint that exists in the current
   * configuration and isn't halted. Finish it now or later; until it is finished, later
   * transfers on the same endpoint wait. Call `kick(address)` when it could make progress.
   */
  protected abstract handleTransfer(transfer: PendingTransfer): void

  /** Class and vendor requests on ep0. Default: stall. */
  protected handleClassOrVendorRequest(_setup: SetupPacket, _data: Uint8Array): ControlReply {
    return CONTROL_STALL
  }

  /** After SET_CONFIGURATION (also to 0). Endpoint state has already been reset. */
  protected onConfigurationChanged(_configurationValue: number): void {}

  /** After SET_INTERFACE selected `alternateSetting`. */
  protected onInterfaceChanged(_interfaceNumber: number, _alternateSetting: number): void {}

  /** After a host cleared a halt (CLEAR_FEATURE(ENDPOINT_HALT)). */
  protected onHaltCleared(_endpointAddress: number): void {}

  /** An importer attached: start from power-on state. */
  protected onOpen(): void {}

  /** The importer went away; pending transfers are already finished. */
  protected onClose(): void {}

  // ---- helpers for models -------------------------------------------------------------------

  /** The transfer the model is currently holding for an endpoint, if any. */
  protected activeTransfer(endpointAddress: number): PendingTransfer | undefined {
    const active = this.#queues.get(endpointAddress)?.active
    return active && !active.settled ? active : undefined
  }

  /** Something changed for this endpoint: offer its active transfer to the model again. */
  protected kick(endpointAddress: number): void {
    const queue = this.#queues.get(endpointAddress)
    if (!queue) return
    if (queue.pumping) {
      queue.rekick = true
      return
    }
    const active = queue.active
    if (active && !active.settled) this.#offer(queue, active)
    this.#pump(endpointAddress)
  }

  /**
   * Halt (STALL) an endpoint, as a device does on a protocol error: the active transfer and
   * every later one fail with EPIPE until the host clears the halt.
   */
  protected haltEndpoint(endpointAddress: number): void {
    this.#halted.add(endpointAddress)
    this.activeTransfer(endpointAddress)?.fail(Errno.EPIPE)
  }

  protected reportGone(reason: string): void {
    for (const listener of [...this.#goneListeners]) listener(reason)
  }

  /** Endpoints of the current configuration and alternate settings, by address. */
  protected activeEndpoints(): Map<number, EndpointInfo> {
    const endpoints = new Map<number, EndpointInfo>()
    const config = this.#activeConfiguration()
    if (!config) return endpoints
    for (const iface of config.altSettings) {
      if (iface.alternateSetting !== this.alternateSetting(iface.interfaceNumber)) continue
      for (const ep of iface.endpoints) endpoints.set(ep.address, ep)
    }
    return endpoints
  }

  // ---- transfers ----------------------------------------------------------------------------

  #submitTransfer(request: TransferRequest, done: CompletionCallback): void {
    const transfer = new PendingTransfer(request, (t, completion) => this.#settled(t, completion, done))
    this.#inflight.set(request.seqnum, transfer)
    if (transfer.endpointAddress === 0) {
      this.#handleControl(transfer)
      return
    }
    if (request.type === 'control' || !this.activeEndpoints().has(transfer.endpointAddress)) {
      transfer.fail(Errno.EPIPE)
      return
    }
    this.#queue(transfer.endpointAddress).waiting.push(transfer)
    this.#pump(transfer.endpointAddress)
  }

  #settled(transfer: PendingTransfer, completion: BackendCompletion, done: CompletionCallback): void {
    this.#inflight.delete(transfer.seqnum)
    const queue = this.#queues.get(transfer.endpointAddress)
    if (queue) {
      const waitingAt = queue.waiting.indexOf(transfer)
      if (waitingAt >= 0) queue.waiting.splice(waitingAt, 1)
    }
    done(completion)
    if (queue && queue.active === transfer) this.#pump(transfer.endpointAddress)
  }

  #queue(endpointAddress: number): EndpointQueue {
    let queue = this.#queues.get(endpointAddress)
    if (!queue) {
      queue = { waiting: [], active: undefined, pumping: false, rekick: false }
      this.#queues.set(endpointAddress, queue)
    }
    return queue
  }

  /** Hand the oldest transfer to the model; loop while the model finishes them synchronously. */
  #pump(endpointAddress: number): void {
    const queue = this.#queues.get(endpointAddress)
    if (!queue || queue.pumping) return
    queue.pumping = true
    try {
      for (;;) {
        if (queue.active && !queue.active.settled) {
          if (!queue.rekick) break
          queue.rekick = false
          this.#invokeModel(queue.active)
          continue
        }
        queue.active = undefined
        queue.rekick = false
        const next = queue.waiting.shift()
        if (!next) break
        if (next.settled) continue
        if (this.#halted.has(endpointAddress)) {
          next.fail(Errno.EPIPE)
          continue
        }
        queue.active = next
        this.#invokeModel(next)
      }
    } finally {
      queue.pumping = false
    }
  }

  #offer(queue: EndpointQueue, transfer: PendingTransfer): void {
    queue.pumping = true
    try {
      this.#invokeModel(transfer)
      while (queue.rekick && queue.active === transfer && !transfer.settled) {
        queue.rekick = false
        this.#invokeModel(transfer)
      }
    } finally {
      queue.pumping = false
      queue.rekick = false
    }
  }

  #invokeModel(transfer: PendingTransfer): void {
    try {
      this.handleTransfer(transfer)
    } catch (err) {
      // A model bug must not wedge the endpoint or throw into the session engine.
      this.log.error('device model threw while handling a transfer', {
        endpoint: transfer.endpointAddress,
        seqnum: transfer.seqnum,
        error: String(err),
      })
      transfer.fail(Errno.EPROTO)
    }
  }

  #abortAll(status: number): void {
    const pending = [...this.#inflight.values()]
    // Empty the queues first so aborting one transfer doesn't hand the next to the model.
    for (const queue of this.#queues.values()) {
      queue.waiting.length = 0
      queue.active = undefined
    }
    for (const transfer of pending) transfer.fail(status)
  }

  /** Fail everything queued on data endpoints: their configuration or altsetting went away. */
  #shutdownEndpoints(addresses: Iterable<number>): void {
    for (const address of addresses) {
      const queue = this.#queues.get(address)
      if (!queue) continue
      const pending = [queue.active, ...queue.waiting].filter((t): t is PendingTransfer => t !== undefined)
      queue.waiting.length = 0
      queue.active = undefined
      for (const transfer of pending) transfer.fail(Errno.ESHUTDOWN)
    }
  }

  #resetChapter9State(): void {
    this.#configurationValue = 0
    this.#alternateSettings.clear()
    this.#halted.clear()
    this.#remoteWakeup = false
    this.#queues.clear()
  }

  // ---- chapter 9 state ----------------------------------------------------------------------

  #configurations(): readonly ConfigurationInfo[] {
    this.#parsedConfigurations ??= this.descriptors.configurations.map(parseConfigurationDescriptor)
    return this.#parsedConfigurations
  }

  #activeConfiguration(): ConfigurationInfo | undefined {
    if (this.#configurationValue === 0) return undefined
    return this.#configurations().find((c) => c.configurationValue === this.#configurationValue)
  }

  #setConfiguration(value: number): boolean {
    if (value !== 0 && !this.#configurations().some((c) => c.configurationValue === value)) return false
    this.#shutdownEndpoints([...this.#queues.keys()])
    this.#configurationValue = value
    this.#alternateSettings.clear()
    this.#halted.clear()
    this.onConfigurationChanged(value)
    return true
  }

  #setInterface(interfaceNumber: number, alternateSetting: number): boolean {
    const config = this.#activeConfiguration()
    const target = config?.altSettings.find(
      (i) => i.interfaceNumber === interfaceNumber && i.alternateSetting === alternateSetting,
    )
    if (!config || !target) return false
    // Endpoints of the old and new settings restart: halts and data toggles reset (9.4.10).
    const affected = config.altSettings
      .filter((i) => i.interfaceNumber === interfaceNumber)
      .flatMap((i) => i.endpoints.map((e) => e.address))
    this.#shutdownEndpoints(affected)
    for (const address of affected) this.#halted.delete(address)
    this.#alternateSettings.set(interfaceNumber, alternateSetting)
    this.onInterfaceChanged(interfaceNumber, alternateSetting)
    return true
  }

  #endpointExists(address: number): boolean {
    return (address & 0x7f) === 0 || this.activeEndpoints().has(address)
  }

  #interfaceExists(interfaceNumber: number): boolean {
    return (
      this.#activeConfiguration()?.altSettings.some((i) => i.interfaceNumber === interfaceNumber) ?? false
    )
  }

  #clearHalt(address: number): boolean {
    if (!this.#endpointExists(address)) return false
    if ((address & 0x7f) === 0) return true
    this.#halted.delete(address)
    this.onHaltCleared(address)
    this.#pump(address)
    return true
  }

  // ---- ep0 ----------------------------------------------------------------------------------

  #handleControl(transfer: PendingTransfer): void {
    const { request } = transfer
    if (!request.setup || request.setup.length < 8) {
      transfer.fail(Errno.EPIPE)
      return
    }
    const setup = parseSetup(request.setup)
    let reply: ControlReply
    try {
      reply =
        requestKind(setup) === RequestType.TYPE_STANDARD
          ? this.#standardRequest(setup)
          : this.handleClassOrVendorRequest(setup, request.data)
    } catch (err) {
      this.log.error('device model threw while handling a control request', { setup, error: String(err) })
      reply = CONTROL_STALL
    }
    if (reply.kind === 'stall') {
      transfer.fail(Errno.EPIPE)
    } else if (isDeviceToHost(setup)) {
      const data = reply.kind === 'data' ? reply.data : EMPTY
      transfer.completeIn(data.subarray(0, Math.min(setup.length, request.length)))
    } else {
      transfer.completeOut(request.data.length)
    }
  }

  #standardRequest(setup: SetupPacket): ControlReply {
    const to = recipient(setup)
    switch (setup.request) {
      case StandardRequest.GET_DESCRIPTOR:
        return this.#getDescriptor(setup)
      case StandardRequest.GET_STATUS:
        return this.#getStatus(setup)
      case StandardRequest.GET_CONFIGURATION:
        return controlData(Uint8Array.of(this.#configurationValue))
      case StandardRequest.SET_CONFIGURATION:
        return this.#setConfiguration(setup.value & 0xff) ? CONTROL_ACK : CONTROL_STALL
      case StandardRequest.GET_INTERFACE:
        if (to !== RequestType.RECIPIENT_INTERFACE || !this.#interfaceExists(setup.index & 0xff)) {
          return CONTROL_STALL
        }
        return controlData(Uint8Array.of(this.alternateSetting(setup.index & 0xff)))
      case StandardRequest.SET_INTERFACE:
        return this.#setInterface(setup.index & 0xff, setup.value) ? CONTROL_ACK : CONTROL_STALL
      case StandardRequest.SET_FEATURE:
      case StandardRequest.CLEAR_FEATURE:
        return this.#feature(setup, setup.request === StandardRequest.SET_FEATURE)
      case StandardRequest.SET_ADDRESS:
        // The host controller side owns addressing; nothing to do for a virtual device.
        return CONTROL_ACK
      default:
        return CONTROL_STALL
    }
  }

  #getDescriptor(setup: SetupPacket): ControlReply {
    if (recipient(setup) !== RequestType.RECIPIENT_DEVICE) return CONTROL_STALL
    const type = setup.value >> 8
    const index = setup.value & 0xff
    const d = this.descriptors
    const highSpeed = this.identity.speed === Speed.HIGH
    let bytes: Uint8Array | undefined
    switch (type) {
      case DescriptorType.DEVICE:
        bytes = d.device
        break
      case DescriptorType.CONFIGURATION:
        bytes = d.configurations[index]
        break
      case DescriptorType.STRING:
        bytes = d.strings?.get(index)
        break
      case DescriptorType.DEVICE_QUALIFIER:
        // Only a device that can run at another speed has a qualifier; full-speed-only stalls.
        bytes = highSpeed ? (d.deviceQualifier ?? deviceQualifierFrom(d.device)) : undefined
        break
      case DescriptorType.OTHER_SPEED_CONFIGURATION: {
        const config = d.configurations[index]
        bytes = highSpeed && config ? fullSpeedConfigurationFrom(config) : undefined
        break
      }
      case DescriptorType.BOS:
        bytes = d.bos
        break
      default:
        // INTERFACE and ENDPOINT descriptors are not directly gettable (usbtest expects a stall).
        bytes = undefined
    }
    return bytes ? controlData(bytes) : CONTROL_STALL
  }

  #getStatus(setup: SetupPacket): ControlReply {
    switch (recipient(setup)) {
      case RequestType.RECIPIENT_DEVICE: {
        const config = this.#activeConfiguration() ?? this.#configurations()[0]
        const selfPowered = ((config?.attributes ?? 0) & 0x40) !== 0
        return controlData(Uint8Array.of((selfPowered ? 1 : 0) | (this.#remoteWakeup ? 2 : 0), 0))
      }
      case RequestType.RECIPIENT_INTERFACE:
        return this.#interfaceExists(setup.index & 0xff) ? controlData(Uint8Array.of(0, 0)) : CONTROL_STALL
      case RequestType.RECIPIENT_ENDPOINT: {
        const address = setup.index & 0xff
        if (!this.#endpointExists(address)) return CONTROL_STALL
        return controlData(Uint8Array.of(this.#halted.has(address) ? 1 : 0, 0))
      }
      default:
        return CONTROL_STALL
    }
  }

  #feature(setup: SetupPacket, set: boolean): ControlReply {
    const to = recipient(setup)
    if (to === RequestType.RECIPIENT_DEVICE && setup.value === FeatureSelector.DEVICE_REMOTE_WAKEUP) {
      this.#remoteWakeup = set
      return CONTROL_ACK
    }
    if (to === RequestType.RECIPIENT_ENDPOINT && setup.value === FeatureSelector.ENDPOINT_HALT) {
      const address = setup.index & 0xff
      if (!this.#endpointExists(address)) return CONTROL_STALL
      if ((address & 0x7f) === 0) return CONTROL_ACK // ep0 never stays halted
      if (set) this.haltEndpoint(address)
      else this.#clearHalt(address)
      return CONTROL_ACK
    }
    return CONTROL_STALL
  }
}
