# Helpers for guest scripts, sourced before every script runGuest() boots (bash, inside the
# guest's chroot of the host root; see scripts/vm/guest-init). Everything a helper waits for is
# bounded; on failure it prints what it was waiting for and exits non-zero.
#
# Conventions the host side relies on:
#   - `kmsg TEXT` puts "tether: TEXT" into the kernel log, to line dmesg up with the script;
#   - `usbip_detach PORT` logs "tether: detach port PORT" first, which tells kernelErrors() that
#     the disconnect messages that follow are expected;
#   - results go to files in $TETHER_SCRATCH (the current directory), which the host reads back.

set -o pipefail
USBIP_SERVER=10.0.2.100
USBIP_PORT=3240

# Written at notice level: in the log for kernelErrors(), not on the console.
kmsg() { echo "<5>tether: $*" >/dev/kmsg 2>/dev/null || true; }

# Milliseconds since boot, for timings.
now_ms() { local up; read -r up _ </proc/uptime; echo $(( ${up%.*} * 1000 + 10#${up#*.} * 10 )); }

step() {
  echo "== $* (t=$(now_ms) ms)"
  kmsg "step: $*"
}

fail() {
  echo "FAIL: $*" >&2
  kmsg "FAIL: $*"
  exit 1
}

# wait_for DESCRIPTION TIMEOUT_S COMMAND... — polls COMMAND every 50 ms until it succeeds.
wait_for() {
  local what="$1" timeout_s="$2" deadline
  shift 2
  deadline=$(( $(now_ms) + timeout_s * 1000 ))
  until "$@" >/dev/null 2>&1; do
    if [ "$(now_ms)" -ge "$deadline" ]; then
      echo "timed out after ${timeout_s}s waiting for $what" >&2
      return 1
    fi
    sleep 0.05
  done
}

# usbip_attach BUSID — attaches BUSID from the host's server; prints the vhci port it took.
usbip_attach() {
  local busid="$1" before port t0
  before="$(vhci_ports_in_use)"
  kmsg "attach $busid"
  t0=$(now_ms)
  timeout 20 usbip --tcp-port "$USBIP_PORT" attach -r "$USBIP_SERVER" -b "$busid" >&2 ||
    fail "usbip attach -b $busid failed"
  echo "usbip attach -b $busid took $(( $(now_ms) - t0 )) ms" >&2
  wait_for "a vhci port for $busid" 10 vhci_port_appeared "$before" || fail "attach $busid: no vhci port in use"
  for port in $(vhci_ports_in_use); do
    case " $before " in *" $port "*) ;; *) echo "$port"; return 0 ;; esac
  done
  fail "attach $busid: cannot tell which vhci port it took"
}

# The vhci ports in use (status other than 004, VDEV_ST_NULL), from every vhci_hcd.N status file.
# Port numbers are global across controllers, as `usbip detach -p` wants them.
vhci_ports_in_use() {
  local f hub port status _ ports=""
  for f in /sys/devices/platform/vhci_hcd.*/status*; do
    while read -r hub port status _; do
      case "$hub" in hs | ss) [ "$status" = 004 ] || ports="$ports $((10#$port))" ;; esac
    done <"$f"
  done
  echo "${ports# }"
}
vhci_port_appeared() { [ "$(vhci_ports_in_use)" != "$1" ]; }

# announce_detach PORT — tells kernelErrors() that the disconnect of PORT that follows is wanted.
# Call it right before anything that detaches (usbip detach, tether usbip detach, killing a pump).
announce_detach() {
  case "$1" in '' | *[!0-9]*) fail "announce_detach: bad port '$1'" ;; esac
  kmsg "detach port $1"
}

# usbip_detach PORT
usbip_detach() {
  local port="$1"
  announce_detach "$port"
  timeout 20 usbip detach -p "$port" >&2 || fail "usbip detach -p $port failed"
  wait_for "vhci port $port to be free" 10 vhci_port_free "$port" || fail "port $port still in use after detach"
}
vhci_port_free() { case " $(vhci_ports_in_use) " in *" $1 "*) return 1 ;; esac; }

# The sysfs name (e.g. 3-1) of the USB device with VID:PID, or fail.
usb_device_by_id() {
  local vid="${1%:*}" pid="${1#*:}" d
  for d in /sys/bus/usb/devices/*; do
    [ -f "$d/idVendor" ] || continue
    if [ "$(cat "$d/idVendor")" = "$vid" ] && [ "$(cat "$d/idProduct")" = "$pid" ]; then
      basename "$d"
      return 0
    fi
  done
  return 1
}

# echo_line TTY — writes a random line of ~1,200 characters to TTY (raw, no local echo) and requires
# the same line back within 15 s (the CDC-ACM echo device).
echo_line() {
  local tty="$1" line reply
  line="tether-$RANDOM-$RANDOM-$(head -c 600 /dev/urandom | od -An -tx1 -v | tr -d ' \n')"
  exec 3<>"$tty"
  stty -F "$tty" raw -echo
  printf '%s\n' "$line" >&3
  IFS= read -r -t 15 reply <&3 || fail "no echo from $tty within 15 s"
  exec 3<&-
  [ "$reply" = "$line" ] || fail "echo on $tty differs: sent ${#line} chars, got ${#reply}"
  echo "echo on $tty ok (${#line} chars)"
}

# disk_sha DEV SHA256 — requires the sha256 of the whole block device DEV to be SHA256.
disk_sha() {
  local sum
  sum=$(timeout 120 sha256sum "$1" | cut -d' ' -f1)
  [ "$sum" = "$2" ] || fail "sha256 of $1 is $sum, expected $2"
  echo "sha256 of $1 matches"
}

# run_sections NAME... — runs each function NAME in a subshell with `set -e` after `step NAME`,
# prints "RESULT NAME rc" (what the host's section checks read), stops at the first failure.
run_sections() {
  local s rc
  for s in "$@"; do
    step "$s"
    ( set -e; "$s" )
    rc=$?
    echo "RESULT $s $rc"
    [ "$rc" = 0 ] || return "$rc"
  done
}
