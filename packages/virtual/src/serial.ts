/**
 * The byte side of a virtual serial port: whatever sits at the far end of the UART. The
 * CDC-ACM model forwards host bytes and modem-control changes to a `SerialPeer`, and the peer
 * writes back through the `SerialPort` it was given on attach.
 */

/** CDC PSTN line coding (SET/GET_LINE_CODING), decoded. */
export interface LineCoding {
  readonly baudRate: number
  /** 0 = 1 stop bit, 1 = 1.5, 2 = 2. */
  readonly stopBits: number
  /** 0 none, 1 odd, 2 even, 3 mark, 4 space. */
  readonly parity: number
  /** 5, 6, 7, 8 or 16. */
  readonly dataBits: number
}

export interface ControlLines {
  /** Data Terminal Ready: the host has the port open. */
  readonly dtr: boolean
  /** Request To Send. */
  readonly rts: boolean
}

/** The peer's handle for sending bytes to the host. */
export interface SerialPort {
  write(bytes: Uint8Array | string): void
}

export interface SerialPeer {
  /** The device was opened (an importer attached); keep `port` to talk to the host. */
  attach(port: SerialPort): void
  /** The device was closed; drop the port. */
  detach(): void
  /** Bytes the host wrote. */
  receive(bytes: Uint8Array): void
  controlLines?(lines: ControlLines): void
  lineCoding?(coding: LineCoding): void
  /** SEND_BREAK: duration in ms; 0xffff means "until a break of 0 ends it". */
  sendBreak?(durationMs: number): void
}

const encoder = new TextEncoder()

export function toBytes(bytes: Uint8Array | string): Uint8Array {
  return typeof bytes === 'string' ? encoder.encode(bytes) : bytes
}

/** A loopback plug: every byte the host writes comes straight back. */
export class EchoPeer implements SerialPeer {
  #port: SerialPort | undefined

  attach(port: SerialPort): void {
    this.#port = port
  }

  detach(): void {
    this.#port = undefined
  }

  receive(bytes: Uint8Array): void {
    this.#port?.write(bytes.slice())
  }
}
