#!/usr/bin/env bash
# Full-path throughput: iperf3 TCP from a client to a resource behind a
# gateway, through floe-client -> floe-gateway (portal-signalled, ICE on a
# direct host path, no NAT between them), then through wireguard-go on the
# same namespaces and MTU, in the same run. Prints both and the ratio.
#
#   bench/fullpath_throughput.sh [--short] [seconds]
#
#   internet 203.0.113.0/24 (floe-portal on .1)
#     `-- router (no NAT) 203.0.113.20 -- LAN 10.2.0.0/24: gateway .2, client .3
#                                            gateway -- resource 10.3.0.2
#   (scripts/lib/netlab.sh)
#
# Each case runs SECONDS (default 10, --short 2) after one omitted second,
# repeated FLOE_BENCH_REPEAT times (default 1; the median is printed).
# FLOE_BINARY_DIR: where the daemons are (default build/release).
# FLOE_PERF_DATA=FILE: perf record -g the client and gateway during the
# first floe run. Needs root; exits 77 with a message otherwise.
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
repeat=${FLOE_BENCH_REPEAT:-1}
[[ $repeat =~ ^[1-9]$ ]] || usage
[[ $(id -u) -eq 0 ]] || skip "needs root (network namespaces, TUN devices)"
for t in ip wg wireguard-go iperf3 jq nft; do
	command -v "$t" >/dev/null || skip "$t is not installed (scripts/deps)"
done

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bin=${FLOE_BINARY_DIR:-$root/build/release}
for p in floe-portal floe-gateway floe-client floectl; do
	[[ -x $bin/$p ]] || { echo "error: $bin/$p not built" >&2; exit 1; }
done
# shellcheck source=scripts/lib/netlab.sh
source "$root/scripts/lib/netlab.sh"
tmp=$(mktemp -d /tmp/fpbench.XXXXXX)
WG_C="fpb$$c" WG_G="fpb$$g"   # wireguard-go's sockets are per host: unique names
cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	for what in client gateway portal iperf3; do lab_floe_stop "$what" 2>/dev/null || true; done
	lab_down
	wait 2>/dev/null || true
	rm -f "/var/run/wireguard/$WG_C.sock" "/var/run/wireguard/$WG_G.sock"
	if ((rc != 0)); then
		for f in "$tmp"/*.log; do [[ -f $f ]] && { echo "--- $f" >&2; tail -n 10 "$f" >&2; }; done
	fi
	rm -rf "$tmp"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
die() { echo "error: $*" >&2; exit 1; }
lab_init "fpb$$"
lab_internet
lab_floe_site_same_lan none
lab_floe_configs "$tmp" "$bin" >/dev/null || die "floectl genkey failed"

# iperf3_mbps: client -> resource, received Mbit/s.
iperf3_mbps() {
	local json=$tmp/iperf3-$1.json
	lab_exec client timeout $((secs + 20)) iperf3 -c 10.3.0.2 -t "$secs" -O 1 -J >"$json" ||
		die "iperf3 ($1) failed: $(jq -r '.error // empty' "$json" 2>/dev/null)"
	jq '.end.sum_received.bits_per_second / 1e6 | . * 10 | round / 10' "$json"
}
median() { tr ' ' '\n' | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

# lab_floe_start waits for the "Welcomed by the portal" line: info at least.
export FLOE_LOG=info
lab_floe_start "$tmp" "$bin" portal || die "portal did not come up"
lab_floe_start "$tmp" "$bin" iperf3 || die "iperf3 server did not come up"

floe_runs=() wggo_runs=() mtu=
for ((r = 0; r < repeat; r++)); do
	# (a) floe-client -> floe-gateway
	for what in gateway client; do lab_floe_start "$tmp" "$bin" "$what" || die "$what did not come up"; done
	lab_floe_until 15 lab_exec client ping -c 1 -W 1 10.3.0.2 || die "floe: no ping to the resource"
	mtu=$(ip -n "$(lab_ns client)" -j link show floe0 | jq '.[0].mtu')
	perf_pid=
	if [[ -n ${FLOE_PERF_DATA:-} && $r == 0 ]]; then
		perf record -g -o "$FLOE_PERF_DATA" -p "$(lab_floe_pid client),$(lab_floe_pid gateway)" \
			-- sleep $((secs + 1)) >"$tmp/perf.log" 2>&1 &
		perf_pid=$!
	fi
	floe_runs+=("$(iperf3_mbps floe-$r)")
	[[ -z $perf_pid ]] || wait "$perf_pid" || die "perf record failed"
	for what in client gateway; do lab_floe_stop "$what"; done

	# (b) wireguard-go on the same namespaces, LAN and MTU
	kc=$(wg genkey) kg=$(wg genkey)
	for side in client gateway; do
		ifn=$WG_C; [[ $side == gateway ]] && ifn=$WG_G
		ip netns exec "$(lab_ns "$side")" env WG_PROCESS_FOREGROUND=1 wireguard-go "$ifn" \
			>>"$tmp/wggo-$side.log" 2>&1 &
		LAB_PIDS+=($!)
		lab_floe_until 5 ip -n "$(lab_ns "$side")" link show "$ifn" || die "wireguard-go did not start"
	done
	lab_exec client wg set "$WG_C" private-key <(echo "$kc") listen-port 51821 \
		peer "$(wg pubkey <<<"$kg")" endpoint 10.2.0.2:51821 allowed-ips 10.3.0.0/24
	lab_exec gateway wg set "$WG_G" private-key <(echo "$kg") listen-port 51821 \
		peer "$(wg pubkey <<<"$kc")" allowed-ips 100.64.200.2/32
	lab_exec client ip addr add 100.64.200.2/32 dev "$WG_C"
	lab_exec client ip link set "$WG_C" mtu "$mtu" up
	lab_exec client ip route add 10.3.0.0/24 dev "$WG_C"
	lab_exec gateway ip link set "$WG_G" mtu "$mtu" up
	lab_exec gateway ip route add 100.64.200.2/32 dev "$WG_G"
	lab_floe_until 10 lab_exec client ping -c 1 -W 1 10.3.0.2 || die "wireguard-go: no ping to the resource"
	wggo_runs+=("$(iperf3_mbps wggo-$r)")
	lab_exec client ip link del "$WG_C"
	lab_exec gateway ip link del "$WG_G"
done
floe=$(echo "${floe_runs[*]}" | median)
wggo=$(echo "${wggo_runs[*]}" | median)
ratio=$(awk -v f="$floe" -v w="$wggo" 'BEGIN { printf "%.2f", (w > 0 ? f / w : 0) }')
echo "iperf3 TCP client -> resource, ${secs} s per case (+1 s omitted), MTU $mtu, $(nproc) CPUs, $repeat run(s), same namespaces"
echo "floe-client -> floe-gateway: ${floe_runs[*]} [Mbit/s], median $floe"
echo "wireguard-go -> wireguard-go: ${wggo_runs[*]} [Mbit/s], median $wggo"
echo "ratio floe / wireguard-go: $ratio"
echo "result fullpath 1 floe $floe wggo $wggo"
