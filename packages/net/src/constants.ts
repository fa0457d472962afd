/** Protocol ids and the tunables both ends of a tether link must agree on. */

/** libp2p protocol of a USB/IP tunnel stream: TunnelOpen preamble, then raw USB/IP. */
export const USBIP_TUNNEL_PROTOCOL = '/tether/usbip/1.0.0'

/**
 * yamux per-stream receive window we start with. The spec's default is 256 KiB, and js-yamux
 * assumes the peer's initial window equals its own: BOTH ENDS MUST USE THE SAME VALUE, or the
 * larger side overruns the smaller one's window and the whole connection is torn down with
 * ReceiveWindowExceededError. Change it only together with every peer (it is part of the wire
 * contract of /tether/usbip/1.0.0).
 */
export const YAMUX_INITIAL_STREAM_WINDOW = 1024 * 1024

/**
 * Upper bound for yamux's receive-window auto-tuning (only advertised through window updates,
 * so peers may differ here, but keep them equal anyway).
 */
export const YAMUX_MAX_STREAM_WINDOW = 4 * 1024 * 1024

/**
 * Bytes a paused stream may buffer before libp2p resets it. A paused stream stops sending
 * window updates, so the peer can still send up to one full window: keep this at least
 * YAMUX_MAX_STREAM_WINDOW, with margin.
 */
export const STREAM_MAX_READ_BUFFER = 2 * YAMUX_MAX_STREAM_WINDOW

/**
 * Largest piece streamToDuplex hands to the libp2p stream in one send(). Noise encrypts at most
 * 65519 plaintext bytes per message and yamux puts a 12-byte header in front of each frame, so a
 * frame of this size is exactly two full noise messages: big writes go out as 64 KiB ciphertext
 * records instead of odd-sized tails, and the peer (which only sees a yamux frame once all of it
 * has arrived) can start on the first piece while the next one is on the wire. It also bounds
 * what can sit in libp2p's own write buffer while the peer's window is shut (one piece): the
 * rest of a large write (a corked burst of URBs) waits in the Duplex for the stream to drain.
 */
export const DUPLEX_SEND_CHUNK = 2 * 65_519 - 12

/** Default limit for one length-prefixed protobuf frame (control messages are small). */
export const DEFAULT_MAX_FRAME_SIZE = 64 * 1024

/** How long a graceful stream close waits for the peer's half of the close before resetting. */
export const DEFAULT_CLOSE_TIMEOUT_MS = 5_000

/** libp2p protocol asking a peer on a relayed connection to dial us directly. */
export const DIALBACK_PROTOCOL = '/tether/dialback/1.0.0'
