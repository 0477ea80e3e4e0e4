#!/usr/bin/env bash
# system/wg_interop: floe-wg against wireguard-go (Debian's userspace
# WireGuard, configured with wg/ip), then floe-wg against floe-wg, in two
# network namespaces joined by a veth pair. For each pairing:
#   1. the floe side initiates (ping from it), then the other side is
#      restarted so that it initiates (ping from it): one handshake each way;
#   2. ping, then a 5 s iperf3 TCP run through the tunnel, with SIGUSR1 to
#      floe-wg in the middle: a second handshake must complete while every
#      one-second interval of the run still carries data.
# Needs root; exits 77 (skipped) with a message otherwise.
set -euo pipefail

skip() { echo "SKIP: $*"; exit 77; }
[[ $(id -u) -eq 0 ]] || skip "needs root (network namespaces, TUN devices)"
for t in ip wg wireguard-go iperf3 ping timeout jq; do
	command -v "$t" >/dev/null || skip "$t is not installed (scripts/deps)"
done
[[ -c /dev/net/tun ]] || skip "no /dev/net/tun"

root=${FLOE_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
bin=${FLOE_BINARY_DIR:-$root/build}
FLOE_WG=$bin/floe-wg
FLOECTL=$bin/floectl
[[ -x $FLOE_WG ]] || { echo "FAIL: $FLOE_WG not built"; exit 1; }

tag="fwg$$"
NS_A="$tag-a" NS_B="$tag-b"
UNDER_A=10.201.0.1 UNDER_B=10.201.0.2
TUN_A=10.202.0.1 TUN_B=10.202.0.2
PORT=51820
# wireguard-go's control socket, /var/run/wireguard/NAME.sock, is not per
# namespace: its interface name must be unique on the host.
WGGO_IF="fwgw$$"
work=$(mktemp -d "/tmp/$tag.XXXXXX")
pids=()

cleanup() {
	local rc=$?
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	ip netns del "$NS_A" 2>/dev/null || true
	ip netns del "$NS_B" 2>/dev/null || true
	if ((rc != 0)); then
		for f in "$work"/*.log; do [[ -f $f ]] && { echo "--- $f"; tail -n 30 "$f"; }; done
	fi
	rm -rf "$work"
	exit "$rc"
}
trap cleanup EXIT

fail() { echo "FAIL: $*"; exit 1; }
step() { echo "== $*"; }
# Never background these: &-ing a function forks a subshell, and $! would
# then not be the process to signal.
in_a() { ip netns exec "$NS_A" "$@"; }
in_b() { ip netns exec "$NS_B" "$@"; }

# wait_for SECONDS cmd...: polls every 0.2 s.
wait_for() {
	local deadline=$((SECONDS + $1)); shift
	until "$@" >/dev/null 2>&1; do
		((SECONDS < deadline)) || return 1
		sleep 0.2
	done
}

genkey() {
	if [[ -x $FLOECTL ]] && "$FLOECTL" genkey >/dev/null 2>&1; then
		"$FLOECTL" genkey
	else
		wg genkey
	fi
}

ip netns add "$NS_A"
ip netns add "$NS_B"
in_a ip link set lo up
in_b ip link set lo up
# Created straight inside the namespaces: nothing touches the host's.
ip -n "$NS_A" link add fwgva type veth peer name fwgvb netns "$NS_B"
in_a ip addr add "$UNDER_A/24" dev fwgva
in_b ip addr add "$UNDER_B/24" dev fwgvb
in_a ip link set fwgva up
in_b ip link set fwgvb up

KEY_A=$(genkey) KEY_B=$(genkey)
PUB_A=$(wg pubkey <<<"$KEY_A") PUB_B=$(wg pubkey <<<"$KEY_B")
PSK=$(wg genpsk)
echo "$KEY_B" >"$work/b.key"
echo "$PSK" >"$work/psk"
chmod 600 "$work/b.key" "$work/psk"

# floe_conf SIDE: a floe-wg config for side a or b (the other is its peer).
floe_conf() {
	local key pub addr peer_tun endpoint
	if [[ $1 == a ]]; then
		key=$KEY_A pub=$PUB_B addr=$TUN_A peer_tun=$TUN_B endpoint=$UNDER_B
	else
		key=$KEY_B pub=$PUB_A addr=$TUN_B peer_tun=$TUN_A endpoint=$UNDER_A
	fi
	cat >"$work/fwg$1.conf" <<-CONF
	# floe-wg, side $1
	[Interface]
	PrivateKey = $key
	ListenPort = $PORT
	Address = $addr/24
	MTU = 1420

	[Peer]
	PublicKey = $pub
	PresharedKeyFile = $work/psk
	Endpoint = $endpoint:$PORT
	AllowedIPs = $peer_tun/32
	CONF
}

# start_floe SIDE: floe-wg on interface fwgSIDE, JSON log in SIDE.log.
start_floe() {
	local ns=$NS_A
	[[ $1 == b ]] && ns=$NS_B
	floe_conf "$1"
	ip netns exec "$ns" "$FLOE_WG" --config "$work/fwg$1.conf" --interface "fwg$1" \
		2>>"$work/floe-$1.log" &
	FLOE_PID[$1]=$!
	pids+=("${FLOE_PID[$1]}")
	wait_for 5 ip -n "$ns" link show "fwg$1" || fail "floe-wg ($1) did not create its interface"
}

# stop_floe SIDE: SIGTERM, expect exit 0 and the interface gone.
stop_floe() {
	local ns=$NS_A rc=0
	[[ $1 == b ]] && ns=$NS_B
	kill -TERM "${FLOE_PID[$1]}"
	wait "${FLOE_PID[$1]}" || rc=$?
	((rc == 0)) || fail "floe-wg ($1) exited with $rc on SIGTERM"
	! ip -n "$ns" link show "fwg$1" >/dev/null 2>&1 || fail "floe-wg ($1) left its interface"
}

handshakes() { grep -c '"message":"Handshake completed"' "$work/floe-$1.log" || true; }

# start_wggo PORT: wireguard-go in namespace b as interface $WGGO_IF, set up
# like floe's side b, listening on PORT.
start_wggo() {
	ip netns exec "$NS_B" env WG_PROCESS_FOREGROUND=1 wireguard-go "$WGGO_IF" >>"$work/wireguard-go.log" 2>&1 &
	WGGO_PID=$!
	pids+=("$WGGO_PID")
	wait_for 5 ip -n "$NS_B" link show "$WGGO_IF" || fail "wireguard-go did not create its interface"
	in_b wg set "$WGGO_IF" private-key "$work/b.key" listen-port "$1" \
		peer "$PUB_A" preshared-key "$work/psk" endpoint "$UNDER_A:$PORT" allowed-ips "$TUN_A/32"
	in_b ip addr add "$TUN_B/24" dev "$WGGO_IF"
	in_b ip link set "$WGGO_IF" mtu 1420 up
}

stop_wggo() {
	kill -TERM "$WGGO_PID" 2>/dev/null || true
	wait "$WGGO_PID" 2>/dev/null || true
	wait_for 5 bash -c "! ip -n $NS_B link show $WGGO_IF" || fail "wireguard-go left $WGGO_IF behind"
}

wggo_handshake_age() { # seconds since wireguard-go's last handshake, or "none"
	local t; t=$(in_b wg show "$WGGO_IF" latest-handshakes | awk '{print $2}')
	[[ ${t:-0} -gt 0 ]] && echo $(($(date +%s) - t)) || echo none
}

# ping_from SIDE DST: a few tries (the first packet waits for the handshake).
ping_from() {
	local ns=$NS_A
	[[ $1 == b ]] && ns=$NS_B
	wait_for 10 ip netns exec "$ns" ping -c 1 -W 1 "$2" || fail "ping $1 -> $2 failed"
	ip netns exec "$ns" ping -c 3 -i 0.2 -W 1 "$2" >/dev/null || fail "ping $1 -> $2 lost packets"
}

# iperf_with_rekey NAME: 5 s TCP from side a (floe) to side b, SIGUSR1 to
# floe-wg (a) after 2 s; checks throughput, every interval, and the rekey.
iperf_with_rekey() {
	local before after json
	ip netns exec "$NS_B" iperf3 -s -1 -B "$TUN_B" >"$work/iperf3-server.log" 2>&1 &
	pids+=($!)
	wait_for 5 in_b bash -c "ss -ltn | grep -q ':5201 '" || fail "iperf3 server did not start"
	before=$(handshakes a)
	ip netns exec "$NS_A" timeout 20 iperf3 -c "$TUN_B" -t 5 -i 1 -J >"$work/iperf3.json" &
	local client=$!
	sleep 2
	kill -USR1 "${FLOE_PID[a]}"
	wait "$client" || fail "$1: iperf3 failed (see $work/iperf3.json)"
	json=$work/iperf3.json
	after=$(handshakes a)
	((after > before)) || fail "$1: SIGUSR1 did not produce a new handshake ($before -> $after)"
	local mbps min_bytes
	mbps=$(jq '.end.sum_received.bits_per_second / 1e6 | floor' "$json")
	min_bytes=$(jq '[.intervals[].sum.bytes] | min' "$json")
	echo "   $1: iperf3 TCP 5 s: ${mbps} Mbit/s received; smallest 1 s interval ${min_bytes} bytes;" \
		"handshakes on floe side ${before} -> ${after} across the rekey"
	((min_bytes > 0)) || fail "$1: traffic stopped during the rekey"
}

declare -A FLOE_PID

step "(a) floe-wg <-> wireguard-go"
start_floe a
start_wggo "$PORT"
ping_from a "$TUN_B"
(($(handshakes a) >= 1)) || fail "floe-wg logged no completed handshake after initiating"
[[ $(wggo_handshake_age) != none ]] || fail "wg show: wireguard-go saw no handshake"
echo "   floe-wg initiated: handshake done, ping ok"

n=$(handshakes a)
stop_wggo
# Fresh, so wireguard-go initiates for the next ping; and on another port,
# so floe-wg's replies only arrive if it follows the peer there (roaming).
start_wggo $((PORT + 1))
ping_from b "$TUN_A"
(($(handshakes a) > n)) || fail "floe-wg logged no handshake when wireguard-go initiated"
[[ $(wggo_handshake_age) != none ]] || fail "wg show: no handshake after wireguard-go initiated"
grep -q "\"message\":\"Peer endpoint changed\".*\"endpoint\":\"$UNDER_B:$((PORT + 1))\"" \
	"$work/floe-a.log" || fail "floe-wg did not log the roam to $UNDER_B:$((PORT + 1))"
echo "   wireguard-go initiated from a new port: handshake done, floe-wg roamed, ping ok"
iperf_with_rekey "floe-wg -> wireguard-go"
stop_wggo
stop_floe a

step "(b) floe-wg <-> floe-wg"
: >"$work/floe-a.log"
start_floe a
start_floe b
ping_from a "$TUN_B"
(($(handshakes a) >= 1 && $(handshakes b) >= 1)) || fail "no handshake logged after a initiated"
n=$(handshakes a)
stop_floe b
: >"$work/floe-b.log"
start_floe b # fresh: b initiates now
ping_from b "$TUN_A"
(($(handshakes a) > n && $(handshakes b) >= 1)) || fail "no handshake logged after b initiated"
echo "   each side initiated once: handshakes done, pings ok"
iperf_with_rekey "floe-wg -> floe-wg"
stop_floe b
stop_floe a
echo "PASS: wg_interop"
