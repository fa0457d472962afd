/** Defaults and kernel constants of the vhci_hcd hand-off (Linux drivers/usb/usbip/vhci*.c). */

/** Where sysfs is mounted; tests point it at a fake tree. */
export const DEFAULT_SYSFS_ROOT = '/sys'
/** Where device nodes appear (devtmpfs/udev). */
export const DEFAULT_DEV_ROOT = '/dev'

/** vhci_hcd's platform devices live here, relative to the sysfs root: vhci_hcd.0, vhci_hcd.1... */
export const VHCI_PLATFORM_DIR = 'devices/platform'
/** The controller that carries `attach`, `detach`, `nports` and every `status[.N]` file. */
export const VHCI_FIRST_CONTROLLER = 'vhci_hcd.0'
/** USB devices by busid (e.g. 3-1) and interfaces (3-1:1.0), relative to the sysfs root. */
export const USB_DEVICES_DIR = 'bus/usb/devices'

/** Port states in the `sta` column (enum usbip_device_status, usbip_common.h). */
export const VdevState = {
  /** VDEV_ST_NULL: free. */
  NULL: 4,
  /** VDEV_ST_NOTASSIGNED: attached, the device is being reset/addressed. */
  NOT_ASSIGNED: 5,
  /** VDEV_ST_USED: attached and addressed; the status line names the local busid. */
  USED: 6,
  /** VDEV_ST_ERROR: the connection failed; vhci is tearing it down. */
  ERROR: 7,
} as const

/** The local busid vhci prints for a port without a device. */
export const NO_BUSID = '0-0'

/** How often waitForEnumeration() looks at sysfs again. */
export const ENUMERATION_POLL_MS = 50
/** Default bound on waiting for a device to enumerate (usb-storage alone waits 1 s by default). */
export const DEFAULT_ENUMERATION_TIMEOUT_MS = 30_000
/**
 * Interfaces that no driver claims are given this long after everything else is ready before
 * waitForEnumeration() returns without them.
 */
export const DEFAULT_UNBOUND_GRACE_MS = 3_000
/** Interval between "still waiting" progress lines. */
export const ENUMERATION_PROGRESS_MS = 2_000
/** How deep below the USB device waitForEnumeration() looks for device nodes (…/host0/target…/block/sda/sda1). */
export const NODE_SEARCH_DEPTH = 9

/** Bound on the loopback socket pair of attachStream() coming up. */
export const LOOPBACK_SETUP_TIMEOUT_MS = 5_000
/** After a detach, how long to wait for the kernel to close its socket before closing ours. */
export const DETACH_CLOSE_TIMEOUT_MS = 5_000
/** After ending the remote stream, how long to let it finish before destroying it. */
export const STREAM_END_TIMEOUT_MS = 2_000
