/**
 * USB mass storage, Bulk-Only Transport, one LUN of SCSI transparent command set (class 08/06/50),
 * backed by a file or a buffer. Linux's usb-storage + sd drive it as /dev/sdX.
 *
 * The BOT state machine: CBW on bulk OUT, an optional data phase (which the host may split over
 * several URBs), then a CSW on bulk IN. Host and device disagreements about the data phase follow
 * the 13 cases of BOT section 6.7: short data ends early (with a STALL when the host could not
 * see the end), phase errors STALL the host's data pipe, and an invalid CBW stalls both pipes
 * until a Bulk-Only Mass Storage Reset.
 */
import type { DeviceDescriptors } from '@tether/usbip'
import type { BlockBacking } from './block-backing.js'
import { FileBacking } from './block-backing.js'
import { type CommandBlockWrapper, CswStatus, type CswStatusValue, encodeCsw, parseCbw } from './bot.js'
import {
  CONTROL_ACK,
  CONTROL_STALL,
  type ControlReply,
  controlData,
  RequestType,
  recipient,
  requestKind,
  type SetupPacket,
} from './control.js'
import {
  configurationDescriptor,
  deviceDescriptor,
  endpointDescriptor,
  interfaceBlock,
  stringTable,
} from './descriptors.js'
import { VirtualDevice, type VirtualDeviceOptions } from './device.js'
import { VirtualDeviceError } from './errors.js'
import type { PendingTransfer } from './pending.js'
import { planDataLength, ScsiDisk, type ScsiPlan, Senses } from './scsi.js'

export const BLOCK_SIZE = 512

const MASS_STORAGE_INTERFACE = 0
const REQUEST_BULK_ONLY_RESET = 0xff
const REQUEST_GET_MAX_LUN = 0xfe
const MAX_LUN = 0

export interface MassStorageOptions extends VirtualDeviceOptions {
  readonly backing: BlockBacking
  /** Present the disk write-protected; defaults to the backing's own read-only flag. */
  readonly readOnly?: boolean
  readonly vendorId?: number
  readonly productId?: number
  /** INQUIRY vendor (8 chars), product (16) and revision (4). */
  readonly vendor?: string
  readonly product?: string
  readonly revision?: string
  /** USB and SCSI unit serial number. */
  readonly serialNumber?: string
}

interface ActiveCommand {
  readonly cbw: CommandBlockWrapper
  readonly plan: ScsiPlan
  /** Bytes the device means to move in the data phase (Di or Do). */
  readonly deviceLength: number
  /** Host bytes moved so far in the data phase. */
  moved: number
  /** Bytes actually produced or stored; the CSW residue is the host length minus this. */
  processed: number
  failed: boolean
  /** A medium read or write for this command is in flight. */
  busy: boolean
}

type Phase =
  | { readonly kind: 'idle' }
  /** Working without a data phase (flush), or between accepting a CBW and starting it. */
  | { readonly kind: 'busy' }
  | { readonly kind: 'data-in'; readonly command: ActiveCommand }
  | { readonly kind: 'data-out'; readonly command: ActiveCommand }
  /** CSW ready; first stall the host's data pipe if it still expects data there. */
  | { readonly kind: 'status'; readonly csw: Uint8Array; stallIn: boolean; stallOut: boolean }
  /** Invalid CBW: both pipes stall until a Bulk-Only Mass Storage Reset. */
  | { readonly kind: 'needs-reset' }

export class MassStorageDevice extends VirtualDevice {
  static readonly BULK_IN = 0x81
  static readonly BULK_OUT = 0x02
  static readonly MAX_PACKET = 512

  readonly descriptors: DeviceDescriptors
  readonly description: string
  readonly backing: BlockBacking
  readonly disk: ScsiDisk
  #phase: Phase = { kind: 'idle' }
  /** Bumped on every transport reset so late I/O results for an abandoned command are ignored. */
  #generation = 0

  constructor(options: MassStorageOptions) {
    super(options)
    this.backing = options.backing
    const blockCount = Math.floor(options.backing.byteLength / BLOCK_SIZE)
    if (blockCount < 1) {
      throw new VirtualDeviceError(
        'ERR_DISK_TOO_SMALL',
        `disk image ${options.backing.label} is ${options.backing.byteLength} bytes; it needs at least ${BLOCK_SIZE}`,
        { details: { label: options.backing.label, byteLength: options.backing.byteLength } },
      )
    }
    const readOnly = options.readOnly ?? options.backing.readOnly
    const serialNumber = options.serialNumber ?? '0123456789AB'
    this.disk = new ScsiDisk({
      blockCount,
      blockSize: BLOCK_SIZE,
      readOnly,
      vendor: options.vendor ?? 'Tether',
      product: options.product ?? 'Virtual Disk',
      revision: options.revision ?? '1.00',
      serialNumber,
    })
    const mib = (blockCount * BLOCK_SIZE) / (1024 * 1024)
    this.description = `USB mass storage (${options.backing.label}, ${Number(mib.toFixed(1))} MiB${readOnly ? ', read-only' : ''})`
    this.descriptors = buildDescriptors(options, serialNumber)
  }

  /** A disk backed by an existing image file; throws a VirtualDeviceError naming the path if unusable. */
  static fromFile(
    path: string,
    options: Omit<MassStorageOptions, 'backing'> & { readonly readOnly?: boolean } = {},
  ): MassStorageDevice {
    const backing = new FileBacking(path, { readOnly: options.readOnly ?? false })
    return new MassStorageDevice({ ...options, backing })
  }

  /** Close the backing file. The device may still be used afterwards; the file reopens on demand. */
  async dispose(): Promise<void> {
    await this.backing.close()
  }

  protected override handleTransfer(transfer: PendingTransfer): void {
    if (transfer.endpointAddress === MassStorageDevice.BULK_OUT) this.#onBulkOut(transfer)
    else this.#onBulkIn(transfer)
  }

  protected override handleClassOrVendorRequest(setup: SetupPacket, _data: Uint8Array): ControlReply {
    if (
      requestKind(setup) !== RequestType.TYPE_CLASS ||
      recipient(setup) !== RequestType.RECIPIENT_INTERFACE ||
      (setup.index & 0xff) !== MASS_STORAGE_INTERFACE
    ) {
      return CONTROL_STALL
    }
    if (setup.request === REQUEST_BULK_ONLY_RESET && setup.requestType === 0x21 && setup.value === 0) {
      // Ready for the next CBW; endpoint halts stay until the host clears them (BOT 3.1).
      this.#resetTransport()
      return CONTROL_ACK
    }
    if (setup.request === REQUEST_GET_MAX_LUN && setup.requestType === 0xa1 && setup.value === 0) {
      return controlData(Uint8Array.of(MAX_LUN))
    }
    return CONTROL_STALL
  }

  protected override onConfigurationChanged(): void {
    this.#resetTransport()
  }

  protected override onInterfaceChanged(): void {
    this.#resetTransport()
  }

  protected override onOpen(): void {
    this.#resetTransport()
  }

  protected override onClose(): void {
    this.#resetTransport()
  }

  #resetTransport(): void {
    this.#generation++
    this.#phase = { kind: 'idle' }
  }

  // ---- bulk OUT: CBWs and data-out ---------------------------------------------------------

  #onBulkOut(transfer: PendingTransfer): void {
    const phase = this.#phase
    switch (phase.kind) {
      case 'needs-reset':
        this.haltEndpoint(MassStorageDevice.BULK_OUT)
        return
      case 'idle':
        this.#receiveCbw(transfer)
        return
      case 'data-out':
        this.#receiveData(transfer, phase.command)
        return
      case 'status':
        if (phase.stallOut) {
          phase.stallOut = false
          this.haltEndpoint(MassStorageDevice.BULK_OUT)
        }
        return // otherwise the next CBW waits until the CSW has been read
      default:
        return
    }
  }

  #receiveCbw(transfer: PendingTransfer): void {
    const cbw = parseCbw(transfer.request.data, MAX_LUN)
    if (!cbw) {
      this.log.warn('invalid CBW: stalling both bulk pipes until reset recovery', {
        length: transfer.request.data.length,
      })
      this.#phase = { kind: 'needs-reset' }
      transfer.completeOut()
      this.haltEndpoint(MassStorageDevice.BULK_IN)
      this.haltEndpoint(MassStorageDevice.BULK_OUT)
      return
    }
    // Not idle while the CBW completes, so a queued OUT isn't mistaken for another CBW.
    this.#phase = { kind: 'busy' }
    transfer.completeOut()
    this.#startCommand(cbw)
  }

  #startCommand(cbw: CommandBlockWrapper): void {
    const plan = this.disk.plan(cbw.command)
    const deviceLength = planDataLength(plan, BLOCK_SIZE)
    const deviceDirection =
      plan.kind === 'data-in' || plan.kind === 'read' ? 'in' : plan.kind === 'write' ? 'out' : 'none'
    const hostLength = cbw.dataTransferLength
    const hostDirection = hostLength === 0 ? 'none' : cbw.dataIn ? 'in' : 'out'
    const command: ActiveCommand = {
      cbw,
      plan,
      deviceLength,
      moved: 0,
      processed: 0,
      failed: plan.kind === 'check-condition',
      busy: false,
    }

    if (deviceDirection !== 'none' && (deviceDirection !== hostDirection || deviceLength > hostLength)) {
      // BOT cases 2, 3, 7, 8, 10, 13: host and device disagree; don't run the command.
      this.#finish(command, CswStatus.PHASE_ERROR, hostDirection)
      this.#kickBoth()
      return
    }
    if (deviceDirection === 'in') {
      this.#phase = { kind: 'data-in', command }
      this.kick(MassStorageDevice.BULK_IN)
      return
    }
    if (deviceDirection === 'out') {
      this.#phase = { kind: 'data-out', command }
      this.kick(MassStorageDevice.BULK_OUT)
      return
    }
    if (plan.kind === 'sync') {
      const generation = this.#generation
      this.backing.flush().then(
        () => this.#afterNoDataCommand(command, generation),
        (err: unknown) => {
          this.log.warn('flush failed', { backing: this.backing.label, error: String(err) })
          this.disk.fail(Senses.WRITE_ERROR)
          command.failed = true
          this.#afterNoDataCommand(command, generation)
        },
      )
      return
    }
    this.#afterNoDataCommand(command, this.#generation)
  }

  /** The command moved no data; deal with whatever data phase the host still expects (cases 1, 4, 9). */
  #afterNoDataCommand(command: ActiveCommand, generation: number): void {
    if (generation !== this.#generation) return
    const status = command.failed ? CswStatus.FAILED : CswStatus.PASSED
    if (command.cbw.dataTransferLength > 0 && !command.cbw.dataIn) {
      // Case 9: take the host's data and drop it, then report.
      this.#phase = { kind: 'data-out', command }
      this.kick(MassStorageDevice.BULK_OUT)
      return
    }
    this.#finish(command, status, command.cbw.dataTransferLength > 0 ? 'in' : 'none')
    this.kick(MassStorageDevice.BULK_IN)
  }

  #receiveData(transfer: PendingTransfer, command: ActiveCommand): void {
    if (command.busy) return
    const data = transfer.request.data
    const { plan } = command
    const mediumLeft = plan.kind === 'write' && !command.failed ? command.deviceLength - command.moved : 0
    const toMedium = Math.max(0, Math.min(data.length, mediumLeft))
    const accept = (): void => {
      command.moved += data.length
      const done = command.moved >= command.cbw.dataTransferLength
      if (done) this.#finish(command, command.failed ? CswStatus.FAILED : CswStatus.PASSED, 'none')
      transfer.completeOut(data.length)
      if (done) this.kick(MassStorageDevice.BULK_IN)
    }
    if (toMedium === 0 || plan.kind !== 'write') {
      accept()
      return
    }
    command.busy = true
    const generation = this.#generation
    this.backing.write(plan.lba * BLOCK_SIZE + command.moved, data.subarray(0, toMedium)).then(
      () => {
        command.busy = false
        if (generation !== this.#generation) return
        command.processed += toMedium
        accept()
      },
      (err: unknown) => {
        command.busy = false
        if (generation !== this.#generation) return
        this.log.warn('write failed', { backing: this.backing.label, lba: plan.lba, error: String(err) })
        // Keep taking the host's data so it reaches the CSW, which then reports the failure.
        this.disk.fail(Senses.WRITE_ERROR)
        command.failed = true
        accept()
      },
    )
  }

  // ---- bulk IN: data-in and CSWs -------------------------------------------------------------

  #onBulkIn(transfer: PendingTransfer): void {
    const phase = this.#phase
    switch (phase.kind) {
      case 'needs-reset':
        this.haltEndpoint(MassStorageDevice.BULK_IN)
        return
      case 'data-in':
        this.#sendData(transfer, phase.command)
        return
      case 'status':
        if (phase.stallIn) {
          // The host is still reading data we don't have: STALL; the CSW follows the clear-halt.
          phase.stallIn = false
          this.haltEndpoint(MassStorageDevice.BULK_IN)
          return
        }
        this.#phase = { kind: 'idle' }
        transfer.completeIn(phase.csw)
        this.kick(MassStorageDevice.BULK_OUT)
        return
      default:
        return // no CSW yet: stay pending, like a device NAKing
    }
  }

  #sendData(transfer: PendingTransfer, command: ActiveCommand): void {
    if (command.busy) return
    const count = Math.min(transfer.request.length, command.deviceLength - command.moved)
    const { plan } = command
    if (plan.kind === 'data-in') {
      this.#deliver(transfer, command, plan.data.subarray(command.moved, command.moved + count))
      return
    }
    if (plan.kind !== 'read') return
    command.busy = true
    const generation = this.#generation
    // One medium read per URB, however many blocks it spans.
    this.backing.read(plan.lba * BLOCK_SIZE + command.moved, count).then(
      (data) => {
        command.busy = false
        if (generation !== this.#generation) return
        if (transfer.settled) {
          // Cancelled while reading: the next URB gets the same bytes.
          this.kick(MassStorageDevice.BULK_IN)
          return
        }
        this.#deliver(transfer, command, data)
      },
      (err: unknown) => {
        command.busy = false
        if (generation !== this.#generation) return
        this.log.warn('read failed', { backing: this.backing.label, lba: plan.lba, error: String(err) })
        this.disk.fail(Senses.UNRECOVERED_READ_ERROR)
        command.failed = true
        this.#finish(command, CswStatus.FAILED, 'in')
        this.kick(MassStorageDevice.BULK_IN)
      },
    )
  }

  /** Hand one URB's worth of data-in; the state moves on before the completion is reported. */
  #deliver(transfer: PendingTransfer, command: ActiveCommand, data: Uint8Array): void {
    command.moved += data.length
    command.processed += data.length
    if (command.moved >= command.deviceLength) {
      const hostWantsMore = command.deviceLength < command.cbw.dataTransferLength
      // A short last URB tells the host the data ended; a full one doesn't, so STALL instead (case 5).
      const urbWasFull = data.length === transfer.request.length
      this.#finish(
        command,
        command.failed ? CswStatus.FAILED : CswStatus.PASSED,
        hostWantsMore && urbWasFull ? 'in' : 'none',
      )
    }
    transfer.completeIn(data)
  }

  #finish(command: ActiveCommand, status: CswStatusValue, stall: 'in' | 'out' | 'none'): void {
    const residue = Math.max(0, command.cbw.dataTransferLength - command.processed)
    this.#phase = {
      kind: 'status',
      csw: encodeCsw({ tag: command.cbw.tag, residue, status }),
      stallIn: stall === 'in',
      stallOut: stall === 'out',
    }
  }

  #kickBoth(): void {
    this.kick(MassStorageDevice.BULK_OUT)
    this.kick(MassStorageDevice.BULK_IN)
  }
}

function buildDescriptors(options: MassStorageOptions, serialNumber: string): DeviceDescriptors {
  return {
    device: deviceDescriptor({
      // Linux File-backed Storage Gadget IDs: usb-storage knows them as a compliant BOT device.
      vendorId: options.vendorId ?? 0x0525,
      productId: options.productId ?? 0xa4a5,
      bcdDevice: 0x0100,
      manufacturerIndex: 1,
      productIndex: 2,
      serialNumberIndex: 3,
      numConfigurations: 1,
    }),
    configurations: [
      configurationDescriptor({ configurationValue: 1, maxPowerMilliamps: 100 }, [
        interfaceBlock(
          {
            interfaceNumber: MASS_STORAGE_INTERFACE,
            interfaceClass: 0x08, // mass storage
            interfaceSubClass: 0x06, // SCSI transparent command set
            interfaceProtocol: 0x50, // bulk-only transport
          },
          {
            endpoints: [
              endpointDescriptor({
                address: MassStorageDevice.BULK_IN,
                type: 'bulk',
                maxPacketSize: MassStorageDevice.MAX_PACKET,
              }),
              endpointDescriptor({
                address: MassStorageDevice.BULK_OUT,
                type: 'bulk',
                maxPacketSize: MassStorageDevice.MAX_PACKET,
              }),
            ],
          },
        ),
      ]),
    ],
    strings: stringTable(['Tether', options.product ?? 'Tether Virtual Disk', serialNumber]),
  }
}
