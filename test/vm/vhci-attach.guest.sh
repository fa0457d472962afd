# The guest's half of test/vm/vhci-attach.test.ts: `tether usbip attach` hands devices of the
# host's `tether serve` to vhci_hcd itself (no stock usbip), in both modes:
#   direct — the TCP socket's fd goes to the kernel, the command returns;
#   pump   — the command keeps the socket and pumps it through a loopback pair (attachStream).
# Set by the test: TETHER (command prefix up to and including `usbip`), ACM_BUSID, DISK_BUSID,
# IMAGE_SHA256. Each section prints "RESULT <name> <exit code>".

REMOTE="$USBIP_SERVER:$USBIP_PORT"
# The same server through runGuest's second forward.
REMOTE2=10.0.2.101:4001

section() {
  local name="$1" rc
  shift
  step "$name"
  ( set -e; "$@" )
  rc=$?
  # Leave nothing attached for the next section.
  for p in $(vhci_ports_in_use); do
    echo "$name: port $p left attached; detaching"
    ( usbip_detach "$p" ) || true
  done
  echo "RESULT $name $rc"
}

# tether ARGS... — runs the CLI with a bound; its stderr goes to tether.log too.
tether() {
  echo "+ tether usbip $*" >&2
  timeout 150 $TETHER "$@" 2> >(tee -a tether.log >&2)
}

# echo_check TTY — a 32- and a 3000-char line go out and come back.
echo_check() {
  local tty="$1" len line reply
  stty -F "$tty" raw -echo
  exec 3<>"$tty"
  for len in 32 3000; do
    line="$(head -c $((len / 2)) /dev/urandom | od -An -tx1 -v | tr -d ' \n')"
    printf '%s\n' "$line" >&3
    reply=""
    IFS= read -r -t 10 reply <&3 || fail "no echo of a $len-char line on $tty within 10 s (got ${#reply} chars)"
    [ "$reply" = "$line" ] || fail "echo on $tty differs for a $len-char line (${#reply} chars back)"
    echo "ACM echo $len ok"
  done
  exec 3<&-
}

disk_check() {
  local dev="$1" sum
  [ -b "$dev" ] || fail "$dev is not a block device"
  sum=$(timeout 120 sha256sum "$dev" | cut -d' ' -f1)
  echo "DISK sha256 $sum"
  [ "$sum" = "$IMAGE_SHA256" ] || fail "sha256 of $dev is $sum, the image's is $IMAGE_SHA256"
}

# The port and node list from "attached B as L on port N: /dev/x ..." lines.
attached_port() { sed -n 's/^attached .* on port \([0-9][0-9]*\).*/\1/p' "$1" | head -n 1; }
attached_nodes() { sed -n 's/^attached .* on port [0-9]*: \(.*\)$/\1/p' "$1" | head -n 1; }

direct() {
  local port nodes t0 out
  t0=$(now_ms)
  tether attach --remote "$REMOTE" --busid "$ACM_BUSID" | tee attach-acm.out
  echo "TIMING direct attach-acm $(( $(now_ms) - t0 )) ms"
  port=$(attached_port attach-acm.out)
  nodes=$(attached_nodes attach-acm.out)
  [ -n "$port" ] || fail "no 'attached ... on port N' line"
  case "$nodes" in /dev/ttyACM*) ;; *) fail "attach did not name a ttyACM node: '$nodes'" ;; esac
  echo_check "${nodes%% *}"
  tether port | tee port.out
  grep -q "^port $port (hs): in use" port.out || fail "tether usbip port does not list port $port in use"
  announce_detach "$port"
  tether detach --port "$port"
  wait_for "port $port to be free" 10 vhci_port_free "$port" || fail "port $port still in use after tether usbip detach"
  echo "DIRECT acm ok"

  t0=$(now_ms)
  out=$(tether attach --remote "$REMOTE" --busid "$DISK_BUSID" --json)
  echo "$out"
  echo "TIMING direct attach-disk $(( $(now_ms) - t0 )) ms"
  port=$(printf '%s' "$out" | sed -n 's/.*"port":\([0-9]*\).*/\1/p')
  [ -n "$port" ] || fail "no port in the JSON"
  printf '%s' "$out" | grep -q '"mode":"direct"' || fail "JSON does not say mode direct"
  printf '%s' "$out" | grep -q '"nodes":\["/dev/sd[a-z]"' || fail "JSON names no /dev/sdX"
  disk_check "$(printf '%s' "$out" | sed -n 's/.*"nodes":\["\(\/dev\/sd[a-z]*\)".*/\1/p')"
  announce_detach "$port"
  tether detach --port "$port"
  wait_for "port $port to be free" 10 vhci_port_free "$port" || fail "port $port still in use after detach"
  echo "DIRECT disk ok"
}

# start_pump BUSID NAME REMOTE — runs `attach --pump` in the background; sets PUMP_PID,
# PUMP_PORT, PUMP_NODES.
start_pump() {
  local busid="$1" name="$2" remote="$3" t0
  t0=$(now_ms)
  $TETHER attach --remote "$remote" --busid "$busid" --pump >"$name.out" 2>"$name.err" &
  PUMP_PID=$!
  wait_for "the pump for $busid to report the attach" 150 grep -q '^attached ' "$name.out" ||
    { cat "$name.out" "$name.err"; fail "pump for $busid did not attach"; }
  echo "TIMING pump attach-$name $(( $(now_ms) - t0 )) ms"
  cat "$name.out"
  PUMP_PORT=$(attached_port "$name.out")
  PUMP_NODES=$(attached_nodes "$name.out")
  [ -n "$PUMP_PORT" ] || fail "no port from the pump"
}

pump_gone() { ! kill -0 "$1" 2>/dev/null; }

# stop_pump NAME EXPECTED_REASON — waits for the pump to exit and checks its summary line.
stop_pump() {
  local name="$1" reason="$2" rc=0
  wait_for "the pump to exit" 20 pump_gone "$PUMP_PID" || { kill -9 "$PUMP_PID"; fail "pump did not exit"; }
  wait "$PUMP_PID" || rc=$?
  cat "$name.err" >>tether.log
  grep -v '^info ' "$name.err" || true
  [ "$rc" = 0 ] || fail "the pump exited with $rc"
  grep -q "^detached port $PUMP_PORT ($reason): [0-9]* bytes in, [0-9]* bytes out" "$name.err" ||
    fail "the pump's summary line does not say ($reason)"
  grep "^detached port" "$name.err"
  grep "vhci: enumerated" "$name.err" || true
  wait_for "port $PUMP_PORT to be free" 10 vhci_port_free "$PUMP_PORT" || fail "port $PUMP_PORT still in use"
}

pump() {
  start_pump "$ACM_BUSID" pump-acm "$REMOTE"
  case "$PUMP_NODES" in /dev/ttyACM*) ;; *) fail "pump attach did not name a ttyACM node: '$PUMP_NODES'" ;; esac
  echo_check "${PUMP_NODES%% *}"
  # Detached from another process: the kernel closes the loopback, the pump ends and exits.
  announce_detach "$PUMP_PORT"
  tether detach --port "$PUMP_PORT"
  stop_pump pump-acm kernel-closed
  echo "PUMP acm ok"

  start_pump "$DISK_BUSID" pump-disk "$REMOTE2"
  case "$PUMP_NODES" in /dev/sd*) ;; *) fail "pump attach did not name a disk: '$PUMP_NODES'" ;; esac
  disk_check "${PUMP_NODES%% *}"
  # SIGINT: the pump detaches its port itself.
  announce_detach "$PUMP_PORT"
  kill -INT "$PUMP_PID"
  stop_pump pump-disk detached
  echo "PUMP disk ok"
}

errors() {
  # Detaching a free port names the problem and exits 1.
  local rc=0
  $TETHER detach --port 7 2>detach-free.err || rc=$?
  cat detach-free.err
  [ "$rc" = 1 ] || fail "detach of a free port exited $rc, not 1"
  grep -q 'ERR_VHCI_NOT_ATTACHED' detach-free.err || fail "no ERR_VHCI_NOT_ATTACHED"
  echo "ERRORS ok"
}

section direct direct
section pump pump
section errors errors
echo "== guest done (t=$(now_ms) ms)"
