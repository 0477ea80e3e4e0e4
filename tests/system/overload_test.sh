#!/usr/bin/env bash
# system/overload: offered traffic beyond capacity through floe-wg (issue #7).
# One floe-wg server with two peers, each peer a floe-wg in its own
# namespace. Peer A blasts UDP through its tunnel at OVERLOAD_MBPS (about
# twice what floe-wg carries on this machine, ~1 Gbit/s: docs/perf.md) for
# 10 s while peer B pings the server through its own tunnel every 10 ms.
# Holds: the excess is dropped at bounded queues and counted (the server's
# UDP receive-buffer drops, iperf3's loss), the server's RSS stays flat
# (< 10% growth), B's ping p99 stays below PING_P99_MAX_MS, and every
# floe-wg is still alive and carries traffic afterwards.
# Needs root; exits 77 (skipped) with a message otherwise.
set -euo pipefail

skip() { echo "SKIP: $*"; exit 77; }
[[ $(id -u) -eq 0 ]] || skip "needs root (network namespaces, TUN devices)"
for t in ip wg iperf3 ping jq; do
	command -v "$t" >/dev/null || skip "$t is not installed (scripts/deps)"
done
[[ -c /dev/net/tun ]] || skip "no /dev/net/tun"

root=${FLOE_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
bin=${FLOE_BINARY_DIR:-$root/build}
FLOE_WG=$bin/floe-wg
[[ -x $FLOE_WG ]] || { echo "FAIL: $FLOE_WG not built"; exit 1; }

OVERLOAD_MBPS=${FLOE_OVERLOAD_MBPS:-2000}
BLAST_S=10
RSS_GROWTH_MAX_PCT=10
# B's ping shares the server's one UDP socket with A's blast, so its
# worst queue is that socket's receive buffer: FLOE_UDP_SOCKBUF_BYTES
# (4 MiB; rmem_max here allows it) of skb truesize, ~2.3 KiB per 1.4 KB
# datagram: ~1,800 datagrams. The server drains >= 10k datagrams/s even on
# this busy machine (measured: 12-15k delivered under a load average of
# 9), so a ping waits <= ~180 ms there; the TUN queue (500 packets) adds
# a few ms. Measured p99 143-238 ms. An unbounded queue would grow with
# the blast's length and show seconds.
PING_P99_MAX_MS=300

tag="h19o$$"
NS_S="$tag-s" NS_A="$tag-a" NS_B="$tag-b"
work=$(mktemp -d "/tmp/$tag.XXXXXX")
pids=()

cleanup() {
	local rc=$?
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	for ns in "$NS_S" "$NS_A" "$NS_B"; do ip netns del "$ns" 2>/dev/null || true; done
	if ((rc != 0)); then
		for f in "$work"/*.log; do [[ -f $f ]] && { echo "--- $f"; tail -n 10 "$f"; }; done
	fi
	rm -rf "$work"
	exit "$rc"
}
trap cleanup EXIT

fail() { echo "FAIL: $*"; exit 1; }
wait_for() {
	local deadline=$((SECONDS + $1)); shift
	until "$@" >/dev/null 2>&1; do
		((SECONDS < deadline)) || return 1
		sleep 0.2
	done
}
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
udp_rcvbuf_errors() { ip netns exec "$NS_S" awk '/^Udp:/ { if (h) { print $6; exit } h = 1 }' /proc/net/snmp; }

for ns in "$NS_S" "$NS_A" "$NS_B"; do
	ip netns add "$ns"
	ip -n "$ns" link set lo up
done
ip -n "$NS_S" link add h19oa type veth peer name h19os netns "$NS_A"
ip -n "$NS_S" link add h19ob type veth peer name h19os netns "$NS_B"
ip -n "$NS_S" addr add 10.93.1.1/24 dev h19oa
ip -n "$NS_S" addr add 10.93.2.1/24 dev h19ob
ip -n "$NS_A" addr add 10.93.1.2/24 dev h19os
ip -n "$NS_B" addr add 10.93.2.2/24 dev h19os
for l in "$NS_S h19oa" "$NS_S h19ob" "$NS_A h19os" "$NS_B h19os"; do
	set -- $l
	ip -n "$1" link set "$2" up
done

KS=$(wg genkey) KA=$(wg genkey) KB=$(wg genkey)
PS=$(wg pubkey <<<"$KS") PA=$(wg pubkey <<<"$KA") PB=$(wg pubkey <<<"$KB")
cat >"$work/s.conf" <<CONF
[Interface]
PrivateKey = $KS
ListenPort = 51820
Address = 10.94.0.1/24

[Peer]
PublicKey = $PA
AllowedIPs = 10.94.0.2/32

[Peer]
PublicKey = $PB
AllowedIPs = 10.94.0.3/32
CONF
peer_conf() { # KEY ADDR ENDPOINT
	printf '[Interface]\nPrivateKey = %s\nAddress = %s/24\n\n[Peer]\nPublicKey = %s\nEndpoint = %s:51820\nAllowedIPs = 10.94.0.0/24\nPersistentKeepalive = 25\n' \
		"$1" "$2" "$PS" "$3"
}
peer_conf "$KA" 10.94.0.2 10.93.1.1 >"$work/a.conf"
peer_conf "$KB" 10.94.0.3 10.93.2.1 >"$work/b.conf"
chmod 600 "$work"/*.conf

start() { # NS NAME
	ip netns exec "$1" "$FLOE_WG" --config "$work/$2.conf" --interface "h19o$2" 2>"$work/floe-$2.log" &
	pids+=($!)
	wait_for 5 ip -n "$1" link show "h19o$2" || fail "floe-wg ($2) did not create its interface"
}
start "$NS_S" s
S_PID=${pids[-1]}
start "$NS_A" a
start "$NS_B" b
wait_for 10 ip netns exec "$NS_A" ping -c 1 -W 1 10.94.0.1 || fail "A: no tunnel"
wait_for 10 ip netns exec "$NS_B" ping -c 1 -W 1 10.94.0.1 || fail "B: no tunnel"

ip netns exec "$NS_S" iperf3 -s -1 -B 10.94.0.1 >"$work/iperf3-server.log" 2>&1 &
pids+=($!)
wait_for 5 ip netns exec "$NS_S" bash -c "ss -ltn | grep -q ':5201 '" || fail "iperf3 server did not start"
sleep 1
rss0=$(rss_kb "$S_PID")
drops0=$(udp_rcvbuf_errors)

ip netns exec "$NS_A" timeout $((BLAST_S + 15)) iperf3 -c 10.94.0.1 -u -b "${OVERLOAD_MBPS}M" -l 1360 \
	-t "$BLAST_S" -J >"$work/iperf3.json" 2>"$work/iperf3.log" &
blast=$!
pids+=("$blast")
sleep 1
# B pings through its own connection while A's is overloaded.
ip netns exec "$NS_B" ping -i 0.01 -c $(((BLAST_S - 2) * 100)) -W 1 10.94.0.1 >"$work/ping.log" 2>&1 || true
wait "$blast" || fail "iperf3 failed"
rss1=$(rss_kb "$S_PID")
drops1=$(udp_rcvbuf_errors)

sent=$(jq -r '.end.sum.packets // 0' "$work/iperf3.json")
lost=$(jq -r '.end.sum.lost_packets // 0' "$work/iperf3.json")
mbps=$(jq -r '(.end.sum.bits_per_second // 0) / 1e6 | floor' "$work/iperf3.json")
lost_pct=$(jq -r '.end.sum.lost_percent // 0 | floor' "$work/iperf3.json")
rtts=$(sed -n 's/.*time=\([0-9.]*\) ms.*/\1/p' "$work/ping.log" | sort -n)
n_ping=$(grep -c . <<<"$rtts" || true)
asked=$(((BLAST_S - 2) * 100))
pct() { awk -v q="$1" '{ a[NR] = $1 } END { i = int(NR * q); if (i < 1) i = 1; print a[i] }' <<<"$rtts"; }
p50=$(pct 0.5)
p99=$(pct 0.99)
growth=$(awk -v a="$rss0" -v b="$rss1" 'BEGIN { printf "%.1f", 100 * (b - a) / a }')
delivered=$(awk -v s="$sent" -v l="$lost" -v t="$BLAST_S" 'BEGIN { printf "%d", (s - l) * 1360 * 8 / t / 1e6 }')
echo "   blast A: ${OVERLOAD_MBPS} Mbit/s asked, ${mbps} Mbit/s left iperf3, ${delivered} Mbit/s delivered; ${lost}/${sent} datagrams lost (${lost_pct}%)"
echo "   server: UDP receive-buffer drops +$((drops1 - drops0)); RSS ${rss0} -> ${rss1} KiB (${growth}%)"
echo "   ping B: ${n_ping}/${asked} answered, p50 ${p50:-?} ms, p99 ${p99:-?} ms"

kill -0 "$S_PID" 2>/dev/null || fail "the server floe-wg died"
ip netns exec "$NS_A" ping -c 1 -W 2 10.94.0.1 >/dev/null || fail "A's tunnel does not carry traffic after the blast"
((lost > 0 || drops1 > drops0)) || fail "nothing was dropped: the offered load did not exceed capacity"
((drops1 > drops0)) || echo "   note: no UDP receive-buffer drops; the loss was elsewhere (iperf3 counted it)"
awk -v g="$growth" -v m="$RSS_GROWTH_MAX_PCT" 'BEGIN { exit !(g < m) }' ||
	fail "server RSS grew ${growth}% (limit ${RSS_GROWTH_MAX_PCT}%)"
((n_ping * 100 >= asked * 90)) || fail "B's pings: only ${n_ping}/${asked} answered"
awk -v p="${p99:-1e9}" -v m="$PING_P99_MAX_MS" 'BEGIN { exit !(p < m) }' ||
	fail "B's ping p99 ${p99} ms (limit ${PING_P99_MAX_MS} ms)"
echo "PASS"
