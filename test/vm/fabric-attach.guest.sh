# The guest's half of test/vm/fabric-attach.test.ts: `tether attach` through the host's hub and
# a libp2p tunnel to the host's exporter, the devices used through the kernel's own drivers, the
# exporter restarted by the host mid-session (the agent must re-attach by itself), then
# `tether detach`. Runs after test/lib/guest-lib.sh with TETHER (the CLI command), HUB (the hub
# address as the guest reaches it) and DISK_SHA256 set. Prints "RESULT <name> <rc>" per section.

export XDG_STATE_HOME=/run/state TETHER_AGENT_SOCKET=/run/agent/agent.sock

status_json() { $TETHER status --json; }

# attached_count: how many attachments are attached with their device nodes present.
attached_count() {
  status_json | node -e '
    const s = JSON.parse(require("fs").readFileSync(0, "utf8"))
    const ok = s.attachments.filter((a) => a.state === "attached" && a.devices.every((d) => require("fs").existsSync(d)))
    console.log(ok.length)'
}
reattached() { [ "$(status_json | node -e 'const s=JSON.parse(require("fs").readFileSync(0,"utf8"));console.log(s.attachments.filter((a)=>a.state==="attached"&&a.reconnects>=1).length)')" = 2 ]; }
all_attached() { [ "$(attached_count)" = 2 ]; }

ports_of() { status_json | node -e 'const s=JSON.parse(require("fs").readFileSync(0,"utf8"));console.log(s.attachments.map((a)=>a.port).filter((p)=>p!==undefined).join(" "))'; }

attach() {
  local t0 out
  t0=$(now_ms)
  out=$($TETHER attach bench --hub "$HUB") || { cat /run/agent/agent.log 2>/dev/null | tail -40; fail "tether attach failed"; }
  echo "$out"
  echo "TIMING attach: tether attach took $(( $(now_ms) - t0 )) ms (agent start included)"
  echo "$out" | grep -q '/dev/ttyACM0' || fail "attach did not report /dev/ttyACM0"
  echo "$out" | grep -q '/dev/sda' || fail "attach did not report /dev/sda"
  echo "$out" | grep -q ', direct' || fail "the tunnel is not direct"
  echo_line /dev/ttyACM0
  disk_sha /dev/sda "$DISK_SHA256"
  $TETHER status
}

restart() {
  local p t0
  # The exporter's restart unplugs both devices: tell kernelErrors() those disconnects are wanted.
  for p in $(ports_of); do announce_detach "$p"; done
  t0=$(now_ms)
  echo "RESTART-EXPORTER-NOW"
  wait_for "the agent to re-attach both devices" 90 reattached || { $TETHER status; tail -30 /run/agent/agent.log; fail "no re-attach"; }
  wait_for "device nodes after re-attach" 30 all_attached || fail "devices not back"
  echo "TIMING restart: re-attached $(( $(now_ms) - t0 )) ms after the restart signal"
  $TETHER status
  echo_line /dev/ttyACM0
  disk_sha /dev/sda "$DISK_SHA256"
}

detach() {
  local p
  for p in $(ports_of); do announce_detach "$p"; done
  $TETHER detach bench || fail "tether detach failed"
  wait_for "vhci ports to be free" 10 test -z "$(vhci_ports_in_use)" || fail "ports still in use: $(vhci_ports_in_use)"
  [ ! -e /dev/ttyACM0 ] || fail "/dev/ttyACM0 is still there"
  [ "$(status_json | node -e 'console.log(JSON.parse(require("fs").readFileSync(0,"utf8")).attachments.length)')" = 0 ] ||
    fail "the agent still lists attachments"
  $TETHER status
}

run_sections attach restart detach
echo "--- agent log (tail)"
tail -25 /run/agent/agent.log 2>/dev/null
