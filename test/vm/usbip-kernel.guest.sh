# The guest's half of test/vm/usbip-kernel.test.ts: attach each device tether serve exports
# with the stock usbip client and drive it through the kernel's own drivers. Runs in the guest
# after test/lib/guest-lib.sh, with ACM_BUSID, GZ_BUSID, DISK_BUSID, BOARD_BUSID and PATTERN_OFFSET_MIB set
# by the test and pattern.bin (1 MiB) in the working directory. Each section prints
# "RESULT <name> <exit code>"; the test reads the console.

# section NAME FUNCTION: runs FUNCTION in a subshell with errexit, then detaches whatever it
# attached (ports listed in NAME.ports) and did not detach itself, and prints RESULT NAME rc.
section() {
  local name="$1" rc p
  shift
  step "$name"
  ( set -e; "$@" )
  rc=$?
  for p in $(cat "$name.ports" 2>/dev/null); do
    if ! vhci_port_free "$p"; then
      echo "$name: detaching port $p left attached"
      ( usbip_detach "$p" ) || true
    fi
  done
  echo "RESULT $name $rc"
}

acm() {
  local port t0 t1 len line reply
  t0=$(now_ms)
  port=$(usbip_attach "$ACM_BUSID")
  echo "$port" >>acm.ports
  wait_for /dev/ttyACM0 15 test -c /dev/ttyACM0 || fail "no /dev/ttyACM0 after attaching $ACM_BUSID"
  t1=$(now_ms)
  echo "TIMING acm attach-to-tty $((t1 - t0)) ms"
  exec 3<>/dev/ttyACM0
  stty -F /dev/ttyACM0 raw -echo
  for len in 32 3000; do
    line="$(head -c $((len / 2)) /dev/urandom | od -An -tx1 -v | tr -d ' \n')"
    printf '%s\n' "$line" >&3
    reply=""
    IFS= read -r -t 10 reply <&3 || fail "no echo of a $len-char line within 10 s (got ${#reply} chars)"
    [ "$reply" = "$line" ] ||
      fail "echo differs for a $len-char line: sent ${line:0:32}..., got ${reply:0:32}... (${#reply} chars)"
    echo "ACM echo $len ok"
  done
  exec 3<&-
  usbip_detach "$port"
}

# read_until FD PATTERN SECONDS: reads FD one byte at a time into $received until it ends with
# PATTERN (a glob) or the time runs out.
received=""
read_until() {
  local fd="$1" pattern="$2" deadline=$((SECONDS + $3)) c
  while [ "$SECONDS" -lt "$deadline" ]; do
    IFS= read -r -t 1 -n 1 -d '' c <&"$fd" || continue
    received+="$c"
    [[ "$received" == *$pattern ]] && return 0
  done
  return 1
}

board() {
  local port tty
  port=$(usbip_attach "$BOARD_BUSID")
  echo "$port" >>board.ports
  wait_for "a ttyACM for the board" 15 sh -c 'ls /dev/ttyACM* >/dev/null 2>&1' ||
    fail "no /dev/ttyACM* after attaching $BOARD_BUSID"
  tty=$(ls /dev/ttyACM* | head -n 1)
  stty -F "$tty" raw -echo
  exec 4<>"$tty" # opening raises DTR: the board boots and prints its banner, then a prompt
  read_until 4 'board$ ' 15 || fail "no board prompt within 15 s; got: ${received:0:300}"
  echo "BOARD banner ok: $(printf '%s' "$received" | grep -m1 -o 'U-Boot[^(]*')"
  received=""
  printf 'uname -a\r' >&4
  read_until 4 'board$ ' 10 || fail "no answer to uname -a within 10 s; got: ${received:0:300}"
  printf '%s' "$received" | grep -q 'Linux tether-board' || fail "unexpected answer to uname -a: ${received:0:300}"
  echo "BOARD uname ok"
  exec 4<&-
  usbip_detach "$port"
}

disk_has_size() { [ "$(cat /sys/block/sda/size 2>/dev/null || echo 0)" -gt 0 ]; }

storage() {
  local port t0 t1 bytes expected readback
  t0=$(now_ms)
  port=$(usbip_attach "$DISK_BUSID")
  echo "$port" >>storage.ports
  wait_for /dev/sda 20 test -b /dev/sda || fail "no /dev/sda after attaching $DISK_BUSID"
  wait_for "a size for /dev/sda" 10 disk_has_size || fail "/dev/sda has size 0"
  t1=$(now_ms)
  echo "TIMING storage attach-to-disk $((t1 - t0)) ms"
  bytes=$(( $(cat /sys/block/sda/size) * 512 ))
  echo "DISK size $bytes"
  echo "DISK sha256 $(timeout 120 sha256sum /dev/sda | cut -d' ' -f1)"
  t0=$(now_ms)
  timeout 120 dd if=/dev/sda of=/dev/null bs=1M iflag=direct 2>dd-read.err || { cat dd-read.err; fail "direct read of /dev/sda failed"; }
  t1=$(now_ms)
  echo "DISK read-direct $bytes bytes $((t1 - t0)) ms"
  t0=$(now_ms)
  timeout 60 dd if=pattern.bin of=/dev/sda bs=1M seek="$PATTERN_OFFSET_MIB" count=1 oflag=direct conv=fsync 2>dd-write.err ||
    { cat dd-write.err; fail "writing the pattern to /dev/sda failed"; }
  t1=$(now_ms)
  echo "DISK write-direct $(stat -c %s pattern.bin) bytes $((t1 - t0)) ms"
  expected=$(sha256sum <pattern.bin | cut -d' ' -f1)
  readback=$(timeout 60 dd if=/dev/sda bs=1M skip="$PATTERN_OFFSET_MIB" count=1 iflag=direct 2>/dev/null | sha256sum | cut -d' ' -f1)
  [ "$readback" = "$expected" ] || fail "reading the pattern back gave sha256 $readback, not $expected"
  echo "DISK write ok"
  sync
  usbip_detach "$port"
}

usbtest_bound() { ls /sys/bus/usb/drivers/usbtest/ 2>/dev/null | grep -q ':'; }

usbtest_run() {
  echo "+ usbtest-run $*"
  timeout 150 "$USBTEST_RUN" "$@"
}

usbtest() {
  local port failed=0
  port=$(usbip_attach "$GZ_BUSID")
  echo "$port" >>usbtest.ports
  wait_for "usbtest to bind" 20 usbtest_bound ||
    fail "usbtest did not bind; drivers of the new interfaces: $(ls -l /sys/bus/usb/devices/*:*/driver 2>&1 | tr '\n' ' ')"
  # Control: ch9 subset, queued control requests (sglen 16 = every subcase), ctrl_out (0x5b/0x5c).
  usbtest_run -c 20 9 -c 8 -g 16 10 -c 64 -s 256 -v 13 14 || failed=1
  # Bulk: plain and varying-length writes/reads, then multi-packet transfers.
  usbtest_run -c 64 -s 512 -v 421 1 2 3 4 -c 16 -s 16384 -v 0 1 2 || failed=1
  # Unlinks: one URB in flight (reads, writes), then from a queue of 8 writes.
  usbtest_run -c 16 -s 512 11 12 -c 8 -g 8 24 || failed=1
  # Halt: set/clear halt on both bulk endpoints.
  usbtest_run -c 4 13 || failed=1
  [ "$failed" = 0 ] || fail "some usbtest cases failed"
  usbip_detach "$port"
}

# Isochronous: usbtest takes the first alt setting with a bulk pair (alt 0) unless its `alt`
# parameter (writable at run time, read when it probes) names another, so select Gadget Zero's
# alt 1 (bulk + iso IN/OUT, 1024-byte packets every 8 microframes) for this attach only.
# Each iso URB is -s bytes split into 1024-byte packets (the last one short); -g URBs stay
# queued, each resubmitted from its completion until -c x -g URBs have completed.
usbtest_iso() {
  local port failed=0 alt=/sys/module/usbtest/parameters/alt
  [ -w "$alt" ] || fail "$alt is not writable"
  trap "echo -1 >$alt" EXIT
  echo 1 >"$alt"
  port=$(usbip_attach "$GZ_BUSID")
  echo "$port" >>usbtest-iso.ports
  wait_for "usbtest to bind" 20 usbtest_bound ||
    fail "usbtest did not bind; drivers of the new interfaces: $(ls -l /sys/bus/usb/devices/*:*/driver 2>&1 | tr '\n' ' ')"
  # Iso write (15) and read (16): 8 URBs of 8 full packets in flight, 128 URBs each.
  usbtest_run -c 16 -g 8 -s 8192 15 16 || failed=1
  # Unaligned buffers (22 write, 23 read), with a short last packet: 4 x 1024 + 904 bytes.
  usbtest_run -c 8 -g 4 -s 5000 22 23 || failed=1
  [ "$failed" = 0 ] || fail "some usbtest iso cases failed"
  usbip_detach "$port"
}

section acm acm
section board board
section storage storage
section usbtest usbtest
section usbtest-iso usbtest_iso
echo "== guest done (t=$(now_ms) ms)"
