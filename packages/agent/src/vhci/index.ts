/**
 * Hand-off of USB/IP connections to the Linux kernel's vhci_hcd: parse its sysfs ports, attach a
 * socket (attachSocket, attachNetSocket) or any USB/IP byte stream through a loopback pump
 * (attachStream), wait for the device's drivers and /dev nodes (waitForEnumeration), detach.
 */
export * from './attach-stream.js'
export * from './constants.js'
export * from './enumerate.js'
export * from './errors.js'
export * from './hand-off.js'
export * from './import.js'
export * from './status.js'
export * from './sysfs.js'
