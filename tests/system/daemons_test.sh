#!/usr/bin/env bash
# floe-gateway and floe-client end to end, in network namespaces (the
# demo's site, scripts/lib/netlab.sh lab_floe_*): bad configurations;
# ping and iperf3 TCP/UDP through the tunnel; a spoofed source dropped and
# counted; the incident (the resource keeps sending to the client while the
# client reconnects 20 times: the gateway never initiates, and each
# reconnection carries traffic within a second of nomination); gateway and
# portal restarts; a grant revoked by SIGHUP and a grant expiring stop
# traffic within 1 s; gateway metrics; SIGTERM exits 0. Each check prints
# "ok: ..." as it passes.
set -uo pipefail

src=${FLOE_SOURCE_DIR:-$(cd "${0%/*}/../.." && pwd)}
bin=${FLOE_BINARY_DIR:-$src/build}
for p in floe-portal floe-gateway floe-client floectl; do
	[[ -x $bin/$p ]] || { echo "FAIL: $bin/$p not built"; exit 1; }
done
tmp=$(mktemp -d /tmp/dmnd-daemons.XXXXXX)
fail() {
	echo "FAIL: $*"
	for f in "$tmp"/*.log; do
		[[ -f $f ]] && { echo "--- ${f##*/}"; tail -n 8 "$f"; }
	done
	exit 1
}

# --- Bad configurations: one line FILE:LINE: message, exit 1 (no root needed).
key=$("$bin/floectl" genkey)
bad_config() { # name expected-message-part content
	local f=$tmp/$1.conf err rc
	printf '%b' "$3" >"$f"
	err=$("$bin/floe-gateway" --config "$f" 2>&1 >/dev/null)
	rc=$?
	((rc == 1)) || fail "$1: exit $rc, expected 1"
	[[ $(printf '%s\n' "$err" | wc -l) -eq 1 ]] || fail "$1: more than one line: $err"
	[[ $err == "$f:"[0-9]*": "*"$2"* ]] || fail "$1: '$err' is not '$f:LINE: ...$2...'"
	echo "ok: bad config ($1): $err"
}
err=$("$bin/floe-gateway" --config "$tmp/missing.conf" 2>&1 >/dev/null)
rc=$?
((rc == 1)) && [[ $err == "$tmp/missing.conf:0: cannot open: No such file or directory" ]] ||
	fail "missing file: exit $rc, '$err'"
echo "ok: bad config (missing file): $err"
bad_config unknown-key "unknown key 'Peer' in [Interface]" "[Interface]\nPrivateKey = $key\nPeer = x\n"
bad_config key-length "PrivateKey: not a valid key" "[Interface]\nPrivateKey = ${key:0:40}\n"
bad_config cidr "Route: malformed CIDR '100.64.0.0/40'" "[Interface]\nRoute = 100.64.0.0/40\n"
rm -f "$tmp"/*.conf

if [[ $(id -u) -ne 0 ]]; then
	rm -rf "$tmp"
	echo "SKIP: the tunnel checks need root (network namespaces)"
	exit 77
fi
for t in turnserver iperf3 nft ping jq; do
	command -v "$t" >/dev/null || { rm -rf "$tmp"; echo "SKIP: $t not installed (scripts/deps)"; exit 77; }
done

# shellcheck source=scripts/lib/netlab.sh
source "$src/scripts/lib/netlab.sh"
cleanup() {
	trap - EXIT INT TERM
	# The daemons first, with SIGTERM: a clean exit; lab_down KILLs the rest.
	for what in client gateway portal; do lab_floe_stop "$what"; done
	lab_down
	wait 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
lab_init "dmnd$$" # unique: two runs at once must not share namespaces
export FLOE_LOG=info

lab_floe_net
lab_floe_configs "$tmp" "$bin" || fail "keys"
printf '\n[Metrics]\nListen = 127.0.0.1:9100\n' >>"$tmp/gateway.conf"
for what in coturn portal iperf3 gateway client; do
	lab_floe_start "$tmp" "$bin" "$what" || fail "$what did not come up"
done

counter() { # node name
	lab_floe_show "$tmp" "$bin" "$1" --json | jq -er ".totals.$2"
}
cping() { lab_exec client ping "$@" 10.3.0.2; }

# --- Traffic.
cping -c 3 -i 0.2 -W 5 >/dev/null || fail "ping client -> resource"
echo "ok: ping client -> resource through the tunnel, replies back"
out=$(lab_exec client timeout 15 iperf3 -c 10.3.0.2 -t 2 -J) || fail "iperf3 TCP: $out"
bps=$(jq -r '.end.sum_received.bits_per_second | floor' <<<"$out")
((bps > 1000000)) || fail "iperf3 TCP: $bps bit/s"
echo "ok: iperf3 TCP client -> resource: $((bps / 1000000)) Mbit/s"
out=$(lab_exec client timeout 15 iperf3 -c 10.3.0.2 -u -b 50M -t 2 -J) || fail "iperf3 UDP: $out"
lost=$(jq -r '.end.sum.lost_percent | floor' <<<"$out")
pkts=$(jq -r '.end.sum.packets' <<<"$out")
((pkts > 0 && lost < 10)) || fail "iperf3 UDP: $pkts packets, $lost% lost"
echo "ok: iperf3 UDP client -> resource: $pkts packets at 50 Mbit/s, $lost% lost"

# --- A client spoofing another source address: dropped and counted.
drops0=$(counter gateway acl_drops) || fail "floectl show --json (gateway)"
lab_exec client ip addr add 100.64.0.99/32 dev floe0
cping -c 3 -i 0.2 -W 1 -I 100.64.0.99 >/dev/null && fail "a spoofed source got replies"
lab_exec client ip addr del 100.64.0.99/32 dev floe0
drops1=$(counter gateway acl_drops)
((drops1 - drops0 >= 3)) || fail "acl_drops went from $drops0 to $drops1 after 3 spoofed packets"
echo "ok: spoofed source 100.64.0.99 dropped at the gateway (acl_drops +$((drops1 - drops0)))"

# --- Prometheus metrics on the gateway: the same counter as floectl show.
metrics=$(lab_exec gateway timeout 5 bash -c 'exec 3<>/dev/tcp/127.0.0.1/9100 &&
	printf "GET /metrics HTTP/1.0\r\n\r\n" >&3 && cat <&3') || fail "GET /metrics"
grep -qx "floe_node_acl_drops $drops1" <<<"$metrics" ||
	fail "metrics lack 'floe_node_acl_drops $drops1': $(grep acl_drops <<<"$metrics")"
echo "ok: gateway metrics over HTTP: floe_node_acl_drops $drops1"

# --- The incident: the resource keeps sending to the client's tunnel IP
# while the client disconnects and reconnects 20 times.
lab_bg res "$tmp/res-ping.log" ping -i 0.05 100.64.0.2 >/dev/null
res_ping=${LAB_PIDS[-1]}
worst=0
for ((i = 1; i <= 20; i++)); do
	lab_floe_stop client
	lab_floe_start "$tmp" "$bin" client || fail "reconnection $i: client did not come up"
	out=$(cping -c 1 -W 3) || fail "reconnection $i: no traffic"
	rtt=$(sed -n 's/.*time=\([0-9.]*\) ms.*/\1/p' <<<"$out")
	nominated=$(grep '"Nominated path"' "$tmp/client.log" | tail -n 1 | jq -r '.duration_since_intent_ms')
	# The first packet is the intent; it is answered rtt ms later.
	after=$(awk -v r="$rtt" -v n="$nominated" 'BEGIN { printf "%d", r - n }')
	((after < 1000)) || fail "reconnection $i: first reply ${after} ms after nomination"
	((after > worst)) && worst=$after
done
kill "$res_ping"
sent=$(counter gateway handshake_initiations_sent)
((sent == 0)) || fail "the gateway sent $sent handshake initiations"
echo "ok: 20 reconnections under traffic from the resource: gateway handshake_initiations_sent 0, first reply at most ${worst} ms after nomination"

# --- Gateway restart: the client notices and recovers within 10 s. The
# restarted gateway says hello with a new boot id; the portal ends its flows
# and tells the clients (flow_denied "gateway restarted"), which replace
# their connections at once instead of waiting for ICE consent to lapse.
GATEWAY_RECOVERY_S=10
lab_floe_stop gateway
t0=$(date +%s%N)
lab_floe_start "$tmp" "$bin" gateway || fail "gateway did not come back"
lab_floe_until $GATEWAY_RECOVERY_S cping -c 1 -W 1 ||
	fail "no traffic $GATEWAY_RECOVERY_S s after the gateway restarted"
echo "ok: gateway restart: traffic again after $((($(date +%s%N) - t0) / 1000000)) ms"

# --- Portal restart: tunnels keep carrying traffic; new flows once it is back.
lab_floe_stop portal
cping -c 3 -i 0.2 -W 2 >/dev/null || fail "traffic stopped while the portal was down"
welcomes=$(grep -c '"Welcomed by the portal"' "$tmp/client.log")
lab_floe_start "$tmp" "$bin" portal || fail "portal did not come back"
lab_floe_until 15 sh -c "[ \$(grep -c '\"Welcomed by the portal\"' $tmp/client.log) -gt $welcomes ]" ||
	fail "the client was not welcomed again by the restarted portal"
lab_floe_stop client
lab_floe_start "$tmp" "$bin" client || fail "client did not come up after the portal restart"
cping -c 1 -W 5 >/dev/null || fail "a new flow after the portal restart carried nothing"
echo "ok: portal restart: the tunnel kept carrying traffic, a new flow works once it is back"

# stopped_within_1s LOG T0: the last ping reply (ping -D) came at most 1 s after T0.
stopped_within_1s() {
	local last
	last=$(sed -n 's/^\[\([0-9.]*\)\].*icmp_seq.*/\1/p' "$1" | tail -n 1)
	[[ -n $last ]] || fail "no reply at all before $2"
	awk -v l="$last" -v t="$2" 'BEGIN { exit !(l - t < 1.0 && l > t - 0.5) }' ||
		fail "last reply at $last, $(awk -v l="$last" -v t="$2" 'BEGIN { print l - t }') s after $2"
}

# --- A grant revoked by SIGHUP on the portal stops traffic within 1 s.
lab_exec client ping -D -i 0.05 -W 1 -w 4 10.3.0.2 >"$tmp/revoke-ping.out" 2>&1 &
pinger=$!
sleep 1.5
lab_floe_portal_conf "$tmp" none
t0=$(date +%s.%N)
kill -HUP "$(lab_floe_pid portal)"
wait "$pinger"
stopped_within_1s "$tmp/revoke-ping.out" "$t0"
echo "ok: grant revoked by SIGHUP: traffic stopped within 1 s"

# --- A grant that expires stops traffic within 1 s of its expiry.
exp=$(($(date +%s) + 4))
lab_floe_portal_conf "$tmp" "$(date -u -d "@$exp" +%Y-%m-%dT%H:%M:%SZ)"
kill -HUP "$(lab_floe_pid portal)"
lab_floe_until 3 cping -c 1 -W 1 || fail "no traffic after the grant was given back"
lab_exec client ping -D -i 0.05 -W 1 -w $((exp - $(date +%s) + 2)) 10.3.0.2 >"$tmp/expire-ping.out" 2>&1
stopped_within_1s "$tmp/expire-ping.out" "$exp"
echo "ok: grant expiring at $(date -u -d "@$exp" +%T): traffic stopped within 1 s"

# --- SIGTERM: a clean exit, status 0.
lab_floe_stop client
rc=$?
((rc == 0)) || fail "floe-client exited $rc on SIGTERM"
lab_floe_stop gateway
rc=$?
((rc == 0)) || fail "floe-gateway exited $rc on SIGTERM"
grep -q '"Stopping"' "$tmp/gateway.log" || fail "the gateway did not log its stop"
echo "ok: SIGTERM: floe-client and floe-gateway exit 0"
