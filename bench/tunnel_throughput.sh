#!/usr/bin/env bash
# TUN-to-TUN throughput: floe-wg against Debian's wireguard-go, on the same
# machine in the same run, with a bare veth as the ceiling.
#
#   bench/tunnel_throughput.sh [--short] [seconds]
#
# Two network namespaces joined by a veth pair; iperf3 TCP from a to b,
# one stream and -P 4, through
#   (a) floe-wg <-> floe-wg
#   (b) wireguard-go <-> wireguard-go
#   (c) the veth itself, no tunnel
# for SECONDS each (default 10, --short 2), after a ping that completes the
# handshake and one omitted second of iperf3 (-O 1) as warm-up. Prints
# [Mbit/s] (received) and the ratio floe-wg / wireguard-go, and one
# machine-readable "result" line per stream count for scripts/bench.
#
# FLOE_BINARY_DIR: where floe-wg is (default build/release).
# FLOE_PERF_DATA=FILE: also `perf record -g` both floe-wg processes during
#   the single-stream run into FILE (docs/perf.md reads it with perf report).
# FLOE_BENCH_NO_OFFLOAD=1: also run floe-wg --no-offload (no TUN TSO), to
#   see what the offloads buy in the same run.
# Needs root; exits 77 with a message otherwise. Cleans up on any exit.
set -euo pipefail

skip() { echo "SKIP: $*"; exit 77; }
usage() { echo "usage: $0 [--short] [seconds]" >&2; exit 2; }

secs=10
for a in "$@"; do
	case $a in
	--short) secs=2 ;;
	'' | *[!0-9]*) usage ;;
	*) secs=$a; ((secs >= 1 && secs <= 600)) || usage ;;
	esac
done

[[ $(id -u) -eq 0 ]] || skip "needs root (network namespaces, TUN devices)"
for t in ip wg wireguard-go iperf3 ping timeout jq; do
	command -v "$t" >/dev/null || skip "$t is not installed (scripts/deps)"
done
[[ -c /dev/net/tun ]] || skip "no /dev/net/tun"

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
FLOE_WG=${FLOE_BINARY_DIR:-$root/build/release}/floe-wg
[[ -x $FLOE_WG ]] || { echo "error: $FLOE_WG not built" >&2; exit 1; }

tag="bench$$"
NS_A="$tag-a" NS_B="$tag-b"
UNDER_A=10.211.0.1 UNDER_B=10.211.0.2
TUN_A=10.212.0.1 TUN_B=10.212.0.2
PORT=51820
MTU=1420
STREAMS=(1 4)
# wireguard-go's control socket (/var/run/wireguard/NAME.sock) is per host,
# not per namespace: its interface names must be unique on the host. Its
# own names also keep it clear of floe-wg's interfaces, which the kernel
# may still be tearing down when wireguard-go starts.
IF_A="${tag}a" IF_B="${tag}b" WG_IF_A="${tag}wa" WG_IF_B="${tag}wb"
work=$(mktemp -d "/tmp/$tag.XXXXXX")
pids=()

cleanup() {
	local rc=$?
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	ip netns del "$NS_A" 2>/dev/null || true
	ip netns del "$NS_B" 2>/dev/null || true
	rm -f "/var/run/wireguard/$WG_IF_A.sock" "/var/run/wireguard/$WG_IF_B.sock"
	if ((rc != 0)); then
		for f in "$work"/*.log; do [[ -f $f ]] && { echo "--- $f" >&2; tail -n 20 "$f" >&2; }; done
	fi
	rm -rf "$work"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

die() { echo "error: $*" >&2; exit 1; }
# Never background in_ns: &-ing a function forks a subshell, and $! would
# then not be the process to signal; background `ip netns exec` itself.
in_ns() { local ns=$1; shift; ip netns exec "$ns" "$@"; }

# wait_for SECONDS cmd...: polls every 0.1 s.
wait_for() {
	local deadline=$((SECONDS + $1)); shift
	until "$@" >/dev/null 2>&1; do
		((SECONDS < deadline)) || return 1
		sleep 0.1
	done
}

# stop PID: SIGTERM, then wait (bounded: SIGKILL after 5 s).
stop() {
	kill -TERM "$1" 2>/dev/null || true
	# A zombie still answers kill -0; ps sees its state.
	wait_for 5 bash -c "! ps -o stat= -p $1 | grep -qv Z" || kill -KILL "$1" 2>/dev/null || true
	wait "$1" 2>/dev/null || true
}

ip netns add "$NS_A"
ip netns add "$NS_B"
in_ns "$NS_A" ip link set lo up
in_ns "$NS_B" ip link set lo up
ip -n "$NS_A" link add benchva type veth peer name benchvb netns "$NS_B"
in_ns "$NS_A" ip addr add "$UNDER_A/24" dev benchva
in_ns "$NS_B" ip addr add "$UNDER_B/24" dev benchvb
in_ns "$NS_A" ip link set benchva up
in_ns "$NS_B" ip link set benchvb up

KEY_A=$(wg genkey) KEY_B=$(wg genkey)
PUB_A=$(wg pubkey <<<"$KEY_A") PUB_B=$(wg pubkey <<<"$KEY_B")
echo "$KEY_A" >"$work/a.key"
echo "$KEY_B" >"$work/b.key"
chmod 600 "$work/a.key" "$work/b.key"

# One iperf3 server for every case; it answers on the veth and both tunnels.
ip netns exec "$NS_B" iperf3 -s >"$work/iperf3-server.log" 2>&1 &
pids+=($!)
wait_for 5 in_ns "$NS_B" bash -c "ss -ltn | grep -q ':5201 '" || die "iperf3 server did not start"

# iperf DST STREAMS: prints received Mbit/s.
iperf() {
	local json=$work/iperf3-$1-$2.json
	in_ns "$NS_A" timeout $((secs + 20)) iperf3 -c "$1" -t "$secs" -O 1 -P "$2" -J >"$json" ||
		die "iperf3 -c $1 -P $2 failed: $(jq -r '.error // empty' "$json" 2>/dev/null)"
	jq '.end.sum_received.bits_per_second / 1e6 | . * 10 | round / 10' "$json"
}

# tunnel_up: a ping through the tunnel completes the handshake (warm-up).
tunnel_up() {
	wait_for 10 in_ns "$NS_A" ping -c 1 -W 1 "$TUN_B" || die "$1: no ping through the tunnel"
}

declare -A MBPS

# (c) the ceiling: the veth, no tunnel.
for p in "${STREAMS[@]}"; do MBPS[veth,$p]=$(iperf "$UNDER_B" "$p"); done

# (a) floe-wg <-> floe-wg
floe_conf() { # SIDE KEY PEER_PUB ADDR PEER_TUN ENDPOINT
	cat >"$work/floe-$1.conf" <<-CONF
	[Interface]
	PrivateKey = $2
	ListenPort = $PORT
	Address = $4/24
	MTU = $MTU

	[Peer]
	PublicKey = $3
	Endpoint = $6:$PORT
	AllowedIPs = $5/32
	CONF
}
floe_conf a "$KEY_A" "$PUB_B" "$TUN_A" "$TUN_B" "$UNDER_B"
floe_conf b "$KEY_B" "$PUB_A" "$TUN_B" "$TUN_A" "$UNDER_A"
# run_floe CASE [floe-wg options...]: both sides, every stream count.
run_floe() {
	local case=$1 perf_pid
	shift
	ip netns exec "$NS_A" "$FLOE_WG" --config "$work/floe-a.conf" --interface "$IF_A" "$@" \
		2>"$work/$case-a.log" &
	FLOE_A=$!
	pids+=("$FLOE_A")
	ip netns exec "$NS_B" "$FLOE_WG" --config "$work/floe-b.conf" --interface "$IF_B" "$@" \
		2>"$work/$case-b.log" &
	FLOE_B=$!
	pids+=("$FLOE_B")
	wait_for 5 ip -n "$NS_A" link show "$IF_A" || die "floe-wg (a) did not create $IF_A"
	wait_for 5 ip -n "$NS_B" link show "$IF_B" || die "floe-wg (b) did not create $IF_B"
	tunnel_up floe-wg
	for p in "${STREAMS[@]}"; do
		perf_pid=
		if [[ -n ${FLOE_PERF_DATA:-} && $p == 1 && $case == floe ]]; then
			perf record -g -o "$FLOE_PERF_DATA" -p "$FLOE_A,$FLOE_B" -- sleep $((secs + 1)) \
				>"$work/perf.log" 2>&1 &
			perf_pid=$!
			pids+=("$perf_pid")
		fi
		MBPS[$case,$p]=$(iperf "$TUN_B" "$p")
		[[ -z $perf_pid ]] || wait "$perf_pid" || die "perf record failed: $(tail -n 3 "$work/perf.log")"
	done
	stop "$FLOE_A"
	stop "$FLOE_B"
	# The kernel deletes a TUN with its last fd; wait before reusing the names.
	wait_for 5 bash -c "! ip -n $NS_A link show $IF_A && ! ip -n $NS_B link show $IF_B" || true
}
run_floe floe
# FLOE_BENCH_NO_OFFLOAD=1: floe-wg without TUN offloads too (what TSO buys).
[[ -z ${FLOE_BENCH_NO_OFFLOAD:-} ]] || run_floe nooff --no-offload

# (b) wireguard-go <-> wireguard-go, the same addresses and MTU.
wggo_up() { # NS IF KEYFILE PEER_PUB ADDR PEER_TUN ENDPOINT
	ip netns exec "$1" env WG_PROCESS_FOREGROUND=1 wireguard-go "$2" >>"$work/wireguard-go-$2.log" 2>&1 &
	pids+=($!)
	WGGO_PIDS+=($!)
	wait_for 5 ip -n "$1" link show "$2" || die "wireguard-go did not create $2"
	in_ns "$1" wg set "$2" private-key "$3" listen-port "$PORT" \
		peer "$4" endpoint "$7:$PORT" allowed-ips "$6/32"
	in_ns "$1" ip addr add "$5/24" dev "$2"
	in_ns "$1" ip link set "$2" mtu "$MTU" up
}
WGGO_PIDS=()
wggo_up "$NS_A" "$WG_IF_A" "$work/a.key" "$PUB_B" "$TUN_A" "$TUN_B" "$UNDER_B"
wggo_up "$NS_B" "$WG_IF_B" "$work/b.key" "$PUB_A" "$TUN_B" "$TUN_A" "$UNDER_A"
tunnel_up wireguard-go
for p in "${STREAMS[@]}"; do MBPS[wggo,$p]=$(iperf "$TUN_B" "$p"); done
for p in "${WGGO_PIDS[@]}"; do stop "$p"; done

echo "iperf3 TCP, ${secs} s per case (+1 s omitted), MTU $MTU, $(nproc) CPUs, same run"
printf '%-10s %14s %14s %14s %18s\n' streams "floe-wg" "wireguard-go" "veth" "floe/wireguard-go"
for p in "${STREAMS[@]}"; do
	ratio=$(awk -v f="${MBPS[floe,$p]}" -v w="${MBPS[wggo,$p]}" 'BEGIN { printf "%.2f", (w > 0 ? f / w : 0) }')
	printf '%-10s %7s [Mbit/s] %7s [Mbit/s] %7s [Mbit/s] %18s\n' "$p" \
		"${MBPS[floe,$p]}" "${MBPS[wggo,$p]}" "${MBPS[veth,$p]}" "$ratio"
done
if [[ -n ${FLOE_BENCH_NO_OFFLOAD:-} ]]; then
	for p in "${STREAMS[@]}"; do
		echo "floe-wg --no-offload, $p stream(s): ${MBPS[nooff,$p]} [Mbit/s]"
	done
fi
for p in "${STREAMS[@]}"; do
	echo "result tcp $p floe ${MBPS[floe,$p]} wggo ${MBPS[wggo,$p]} veth ${MBPS[veth,$p]}"
done
