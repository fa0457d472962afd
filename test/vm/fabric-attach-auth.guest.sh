# The guest's half of test/vm/fabric-attach-auth.test.ts: a CI-style login (--token-cmd, the
# service account's token the host put in the scratch share), `tether reserve`, `tether attach`
# through the host's hub with [auth] and its enrolled exporter (every tunnel carries the lease's
# capability), the devices used through the kernel's own drivers; then the host kicks the lease
# and, on a second reservation, the lease runs out: each time the devices must vanish and the
# agent must stop (state "ended") rather than reconnect. Runs after test/lib/guest-lib.sh with
# TETHER (the CLI command), HUB (the hub as the guest reaches it), DISK_SHA256 and EXPIRY_LEASE
# (the second lease's length, e.g. 90s) set.
#
# Before the kick the host restarts the exporter ("RESTART-EXPORTER-NOW"): with the lease still
# valid the agent must re-attach by itself.
#
# Timing lines for the host: "KICK-NOW <lease>" (the host runs `tether admin kick`), "EXPIRY-ARMED
# <lease>" (devices verified, now waiting for the lease's end) and "GONE <kick|expiry>" (printed
# the moment /dev/ttyACM0 and /dev/sda are gone and every vhci port is free). The host timestamps
# these as they arrive on the console; the guest's own clock is never compared with the host's.
# Prints "RESULT <name> <rc>" per section.

export XDG_STATE_HOME=/run/state TETHER_AGENT_SOCKET=/run/agent/agent.sock TETHER_CREDENTIALS=file
export TETHER_HUB="$HUB"

status_json() { timeout 60 $TETHER status --json; }

# attachments_in STATE: how many attachments the agent lists in STATE (and, for "attached", with
# their device nodes present).
attachments_in() {
  status_json | node -e '
    const fs = require("fs")
    const s = JSON.parse(fs.readFileSync(0, "utf8"))
    const want = process.argv[1]
    console.log(s.attachments.filter((a) => a.state === want && (want !== "attached" || a.devices.every((d) => fs.existsSync(d)))).length)' "$1"
}
both_in() { [ "$(attachments_in "$1")" = 2 ]; }

# Every attachment's reason, one line each (what `tether status` shows as "last error").
reasons() {
  status_json | node -e '
    const s = JSON.parse(require("fs").readFileSync(0, "utf8"))
    for (const a of s.attachments) console.log(`${a.target} ${a.state}: ${a.lastError ?? "-"}`)'
}

ports_of() { status_json | node -e 'const s=JSON.parse(require("fs").readFileSync(0,"utf8"));console.log(s.attachments.map((a)=>a.port).filter((p)=>p!==undefined).join(" "))'; }

devices_gone() { [ ! -e /dev/ttyACM0 ] && [ ! -e /dev/sda ] && [ -z "$(vhci_ports_in_use)" ]; }

reattaches() { grep -c 're-attached' /run/agent/agent.log || true; }

# hub_cli ARGS...: a tether command that asks the hub (login, reserve); its stdout. (It once exited
# 13 after answering — libp2p's stop never settling, "unsettled top-level await" — now bounded by
# stopNodeWithin: any failure fails.)
hub_cli() {
  local out rc
  out=$(timeout 90 $TETHER "$@" 2>/run/hub-cli.err)
  rc=$?
  [ "$rc" = 0 ] || { cat /run/hub-cli.err >&2; fail "tether $* failed ($rc): $out"; }
  echo "$out"
}

# reserve [ARGS...]: prints the lease id.
reserve() {
  local out id
  out=$(hub_cli reserve bench --json "$@") || exit 1
  echo "$out" >&2
  id=$(echo "$out" | grep -o '"id":"[^"]*"' | cut -d'"' -f4)
  [ -n "$id" ] || fail "no lease id in: $out"
  echo "$id"
}

attach_and_use() {
  local t0 out
  t0=$(now_ms)
  out=$(timeout 150 $TETHER attach bench) || { tail -40 /run/agent/agent.log 2>/dev/null; fail "tether attach failed"; }
  echo "$out"
  echo "TIMING attach: tether attach took $(( $(now_ms) - t0 )) ms"
  echo "$out" | grep -q '/dev/ttyACM0' || fail "attach did not report /dev/ttyACM0"
  echo "$out" | grep -q '/dev/sda' || fail "attach did not report /dev/sda"
  echo_line /dev/ttyACM0
  disk_sha /dev/sda "$DISK_SHA256"
}

# wait_gone WHAT: polls until the devices are gone, prints "GONE WHAT" at once.
wait_gone() {
  local t0 timeout_s="$2"
  t0=$(now_ms)
  until devices_gone; do
    [ $(( $(now_ms) - t0 )) -lt $(( timeout_s * 1000 )) ] || fail "devices still there ${timeout_s} s after the $1 marker: $(ls /dev/ttyACM* /dev/sd* 2>/dev/null) ports $(vhci_ports_in_use)"
    sleep 0.02
  done
  echo "GONE $1"
  echo "TIMING $1: devices gone $(( $(now_ms) - t0 )) ms after the marker (guest clock)"
}

# The agent gives up on both attachments (the lease is over) and attaches nothing again.
# REATTACHES: the agent log's re-attach count before the lease ended.
agent_stopped() {
  wait_for "the agent to mark both attachments ended" 60 both_in ended ||
    { reasons; tail -30 /run/agent/agent.log; fail "the agent did not stop reconnecting"; }
  reasons
  timeout 60 $TETHER status
  sleep 4
  devices_gone || fail "a device came back after the lease ended: $(vhci_ports_in_use)"
  both_in ended || { reasons; fail "the attachments left the ended state"; }
  [ "$(reattaches)" = "$REATTACHES" ] || fail "the agent re-attached after the lease ended"
}

login() {
  local out
  out=$(hub_cli login "$HUB" --token-cmd "cat /run/tether/importer.jwt") || exit 1
  echo "$out"
  echo "$out" | grep -q ' as ci-lab (roles: importer)' || fail "unexpected login answer: $out"
}

attach() {
  KICK_LEASE=$(reserve)
  echo "$KICK_LEASE" >/run/kick-lease
  attach_and_use
  both_in attached || { reasons; fail "the agent does not list both attachments as attached"; }
}

# The host restarts the exporter: the lease is still valid, so the agent must re-attach both
# devices by itself (the restarted exporter takes the capability the agent holds).
restart() {
  local p
  for p in $(ports_of); do announce_detach "$p"; done
  echo "RESTART-EXPORTER-NOW"
  wait_for "the agent to re-attach both devices" 90 reattached ||
    { reasons; tail -30 /run/agent/agent.log; fail "no re-attach while the lease is valid"; }
  wait_for "device nodes after the re-attach" 30 both_in attached || fail "devices not back"
  echo_line /dev/ttyACM0
}
reattached() {
  [ "$(status_json | node -e 'const s=JSON.parse(require("fs").readFileSync(0,"utf8"));console.log(s.attachments.filter((a)=>a.state==="attached"&&a.reconnects>=1).length)')" = 2 ]
}

kick() {
  local p
  # The kick unplugs both devices: tell kernelErrors() those two disconnects are wanted.
  for p in $(ports_of); do announce_detach "$p"; done
  REATTACHES=$(reattaches)
  echo "KICK-NOW $(cat /run/kick-lease)"
  wait_gone kick 30
  agent_stopped
  reasons | grep -q 'ERR_TOKEN_REVOKED' || fail "the reason does not name the revoked capability"
}

expiry() {
  local lease p
  lease=$(reserve --for "$EXPIRY_LEASE")
  attach_and_use
  both_in attached || { reasons; fail "the new lease's attachments are not attached (the ended ones must be replaced)"; }
  for p in $(ports_of); do announce_detach "$p"; done
  REATTACHES=$(reattaches)
  echo "EXPIRY-ARMED $lease"
  wait_gone expiry 300
  agent_stopped
}

detach() {
  timeout 60 $TETHER detach bench || fail "tether detach failed"
  [ "$(status_json | node -e 'console.log(JSON.parse(require("fs").readFileSync(0,"utf8")).attachments.length)')" = 0 ] ||
    fail "the agent still lists attachments"
  devices_gone || fail "devices or vhci ports left: $(vhci_ports_in_use)"
  timeout 60 $TETHER status
}

run_sections login attach restart kick expiry detach
echo "--- agent log (tail)"
tail -30 /run/agent/agent.log 2>/dev/null
