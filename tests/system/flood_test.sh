#!/usr/bin/env bash
# system/flood: handshake floods (issue #7).
#   (a) floe-wg on one static port, flooded by bench_flood with >= 50,000
#       MAC1-valid initiations per second from one namespace for ~10 s;
#       meanwhile 100 legitimate initiators (bench_handshakes: the engine,
#       one key and one source address each) must each complete within
#       10 s; floe-wg's RSS grows < 10%, its CPU share is printed and
#       bounded, and it sent cookie replies.
#   (b) see below (floe-gateway with the portal), when built.
# Needs root; exits 77 (skipped) with a message otherwise.
set -euo pipefail

skip() { echo "SKIP: $*"; exit 77; }
[[ $(id -u) -eq 0 ]] || skip "needs root (network namespaces, TUN devices)"
for t in ip wg timeout; do
	command -v "$t" >/dev/null || skip "$t is not installed (scripts/deps)"
done
[[ -c /dev/net/tun ]] || skip "no /dev/net/tun"

root=${FLOE_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
bin=${FLOE_BINARY_DIR:-$root/build}
FLOE_WG=$bin/floe-wg FLOOD=$bin/bench_flood HANDSHAKES=$bin/bench_handshakes
for b in "$FLOE_WG" "$FLOOD" "$HANDSHAKES"; do
	[[ -x $b ]] || { echo "FAIL: $b not built"; exit 1; }
done

# Figures the test holds (issue #7 acceptance).
# Asked a little above the floor: scheduling noise on a shared machine
# costs the generator a few percent; the measured rate must reach the floor.
FLOOD_RATE=${FLOE_FLOOD_RATE:-56000}    # initiations per second, asked
FLOOD_MIN_PER_S=${FLOE_FLOOD_MIN_PER_S:-50000}  # ... and measured
FLOOD_S=${FLOE_FLOOD_S:-10}
CLIENTS=100
HANDSHAKE_LIMIT_S=10
RSS_GROWTH_MAX_PCT=10
# floe-wg answers each flood datagram with two BLAKE2s and a cookie
# (XChaCha20-Poly1305): ~2-4 us, so 50k/s is 10-20% of a core; more than
# 60% would mean DH is being spent on the flood.
CPU_MAX_PCT=60

tag="h19f$$"
NS_S="$tag-s" NS_A="$tag-a" NS_C="$tag-c"
work=$(mktemp -d "/tmp/$tag.XXXXXX")
pids=()

cleanup() {
	local rc=$?
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	for ns in "$NS_S" "$NS_A" "$NS_C"; do ip netns del "$ns" 2>/dev/null || true; done
	if ((rc != 0)); then
		for f in "$work"/*.log; do [[ -f $f ]] && { echo "--- $f"; tail -n 20 "$f"; }; done
	fi
	rm -rf "$work"
	exit "$rc"
}
trap cleanup EXIT

fail() { echo "FAIL: $*"; exit 1; }
step() { echo "== $*"; }

wait_for() {
	local deadline=$((SECONDS + $1)); shift
	until "$@" >/dev/null 2>&1; do
		((SECONDS < deadline)) || return 1
		sleep 0.2
	done
}

rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
# utime + stime in clock ticks (fields 14, 15 of /proc/PID/stat; comm has no spaces here).
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# Server namespace with one veth to the attacker and one to the clients.
for ns in "$NS_S" "$NS_A" "$NS_C"; do
	ip netns add "$ns"
	ip -n "$ns" link set lo up
done
ip -n "$NS_S" link add h19sa type veth peer name h19as netns "$NS_A"
ip -n "$NS_S" link add h19sc type veth peer name h19cs netns "$NS_C"
ip -n "$NS_S" addr add 10.91.1.1/24 dev h19sa
ip -n "$NS_A" addr add 10.91.1.2/24 dev h19as
ip -n "$NS_S" addr add 10.91.2.1/24 dev h19sc
for ((i = 0; i < CLIENTS; i++)); do
	ip -n "$NS_C" addr add "10.91.2.$((10 + i))/24" dev h19cs
done
for l in "$NS_S h19sa" "$NS_S h19sc" "$NS_A h19as" "$NS_C h19cs"; do
	set -- $l
	ip -n "$1" link set "$2" up
done
ip -n "$NS_A" route add default via 10.91.1.1
ip -n "$NS_C" route add default via 10.91.2.1
ip netns exec "$NS_S" sysctl -qw net.ipv4.ip_forward=0

step "(a) floe-wg under a ${FLOOD_RATE}/s handshake flood for ${FLOOD_S} s, ${CLIENTS} legitimate handshakes"
SKEY=$(wg genkey)
SPUB=$(wg pubkey <<<"$SKEY")
{
	printf '[Interface]\nPrivateKey = %s\nListenPort = 51820\nAddress = 10.92.0.1/16\n' "$SKEY"
	: >"$work/client.keys"
	for ((i = 0; i < CLIENTS; i++)); do
		k=$(wg genkey)
		echo "$k" >>"$work/client.keys"
		printf '\n[Peer]\nPublicKey = %s\nAllowedIPs = 10.92.1.%d/32\n' "$(wg pubkey <<<"$k")" "$((i + 1))"
	done
} >"$work/fwg.conf"
chmod 600 "$work/fwg.conf" "$work/client.keys"

ip netns exec "$NS_S" "$FLOE_WG" --config "$work/fwg.conf" --interface h19fwg 2>"$work/floe-wg.log" &
FWG=$!
pids+=("$FWG")
wait_for 5 ip -n "$NS_S" link show h19fwg || fail "floe-wg did not create its interface"
# Warm-up: one round of legitimate handshakes with no flood, so the RSS
# baseline includes every peer's session state (the flood must add nothing).
ip netns exec "$NS_C" "$HANDSHAKES" --target 10.91.2.1:51820 --public-key "$SPUB" \
	--keys "$work/client.keys" --src-base 10.91.2.10 --timeout-s 10 >"$work/warm.log" ||
	fail "warm-up handshakes without a flood failed: $(cat "$work/warm.log")"
echo "   no flood: $(cat "$work/warm.log")"
sleep 1
rss0=$(rss_kb "$FWG")
cpu0=$(cpu_ticks "$FWG")
t0=$(date +%s.%N)

ip netns exec "$NS_A" "$FLOOD" --target 10.91.1.1:51820 --public-key "$SPUB" \
	--rate "$FLOOD_RATE" --duration-s "$FLOOD_S" >"$work/flood.log" 2>&1 &
FLOOD_PID=$!
pids+=("$FLOOD_PID")
# Let the flood put floe-wg under load first: the handshakes start into it.
sleep 2
hs_rc=0
ip netns exec "$NS_C" "$HANDSHAKES" --target 10.91.2.1:51820 --public-key "$SPUB" \
	--keys "$work/client.keys" --src-base 10.91.2.10 --timeout-s "$HANDSHAKE_LIMIT_S" \
	>"$work/handshakes.log" 2>&1 || hs_rc=$?
flood_rc=0
wait "$FLOOD_PID" || flood_rc=$?
t1=$(date +%s.%N)
rss1=$(rss_kb "$FWG")
cpu1=$(cpu_ticks "$FWG")
kill -TERM "$FWG"
wait "$FWG" || fail "floe-wg exited with $? on SIGTERM"

echo "   $(cat "$work/flood.log")"
echo "   under flood: $(cat "$work/handshakes.log")"
hz=$(getconf CLK_TCK)
cpu_pct=$(awk -v a="$cpu0" -v b="$cpu1" -v hz="$hz" -v t0="$t0" -v t1="$t1" \
	'BEGIN { printf "%.0f", 100 * (b - a) / hz / (t1 - t0) }')
growth_pct=$(awk -v a="$rss0" -v b="$rss1" 'BEGIN { printf "%.1f", 100 * (b - a) / a }')
stats=$(grep '"Device stats"' "$work/floe-wg.log" | tail -n 1)
field() { sed -n "s/.*\"$1\":\([0-9]*\).*/\1/p" <<<"$stats"; }
cookies=$(field cookie_replies_sent)
echo "   floe-wg: RSS ${rss0} -> ${rss1} KiB (${growth_pct}%), CPU ${cpu_pct}% of one core over the flood," \
	"cookie_replies_sent=${cookies:-?} ratelimited_drops=$(field ratelimited_drops)" \
	"under_load_entered=$(field under_load_entered) tx_drops=$(field tx_drops)"

sent_per_s=$(sed -n 's/.*sent_per_s=\([0-9]*\).*/\1/p' "$work/flood.log")
((flood_rc == 0 && ${sent_per_s:-0} >= FLOOD_MIN_PER_S)) ||
	fail "the flood sent ${sent_per_s:-?}/s, below ${FLOOD_MIN_PER_S}/s (the machine is too busy?)"
((hs_rc == 0)) || fail "not every legitimate handshake completed within ${HANDSHAKE_LIMIT_S} s"
[[ -n $cookies ]] && ((cookies > 0)) || fail "floe-wg sent no cookie replies under the flood"
awk -v g="$growth_pct" -v m="$RSS_GROWTH_MAX_PCT" 'BEGIN { exit !(g < m) }' ||
	fail "floe-wg RSS grew ${growth_pct}% (limit ${RSS_GROWTH_MAX_PCT}%)"
((cpu_pct <= CPU_MAX_PCT)) || fail "floe-wg used ${cpu_pct}% CPU under the flood (limit ${CPU_MAX_PCT}%)"
echo "PASS"
