#!/usr/bin/env bash
# scripts/demo with the tree already built: traffic flows (exit 0, "Traffic
# flowed"), and it leaves no namespace, process, interface or temp dir
# behind — after a full run and after a SIGINT in the middle of one.
set -uo pipefail

if [[ $(id -u) -ne 0 ]]; then
	echo "SKIP: needs root (network namespaces)"
	exit 77
fi
src=${FLOE_SOURCE_DIR:-$(cd "${0%/*}/../.." && pwd)}
bin=${FLOE_BINARY_DIR:-$src/build}
for p in floe-portal floe-gateway floe-client floectl; do
	[[ -x $bin/$p ]] || { echo "FAIL: $bin/$p not built"; exit 1; }
done
for t in turnserver iperf3 nft ping; do
	command -v "$t" >/dev/null || { echo "SKIP: $t not installed (scripts/deps)"; exit 77; }
done

export FLOE_DEMO_NO_BUILD=1 FLOE_DEMO_BUILD_DIR=$bin FLOE_DEMO_LAB=dmnt$$
out=$(mktemp /tmp/dmnt-demo.XXXXXX)
trap 'rm -f "$out"' EXIT
fail() { echo "FAIL: $*"; cat "$out"; exit 1; }

snapshot() { # what the demo could leave behind
	ip netns list | awk '{ print $1 }' | grep "^dmnt$$-" || true
	pgrep -f "^$bin/floe-(portal|gateway|client)" | sed 's/^/pid /' || true
	ip -o link | awk -F': ' '{ print $2 }' | grep -E '^fl[0-9]+[ab]' || true
	ls -d /tmp/floe-demo.* 2>/dev/null || true
}
before=$(snapshot)
check_clean() {
	local after i
	for ((i = 0; i < 20; i++)); do # a killed process may take a moment to be reaped
		after=$(snapshot)
		[[ $after == "$before" ]] && return 0
		sleep 0.1
	done
	fail "$1 left behind: $(diff <(echo "$before") <(echo "$after") | grep '^>' | tr '\n' ' ')"
}

start=$SECONDS
timeout 120 "$src/scripts/demo" >"$out" 2>&1
rc=$?
((rc == 0)) || fail "scripts/demo exited $rc"
grep -q '^Traffic flowed: ping OK, iperf3 TCP [0-9.]\+ [KMG]bits/sec' "$out" || fail "no throughput line"
grep -q 'state: connected' "$out" || fail "floectl show printed no connected connection"
grep -q '5 received' "$out" || fail "ping lost packets"
echo "ok: demo passed in $((SECONDS - start)) s: $(grep '^Traffic flowed' "$out")"
check_clean "a full run"
echo "ok: nothing left behind after a full run"

# Interrupted half-way: the trap still removes everything.
# Bash starts background jobs with SIGINT ignored (and an ignored signal
# cannot be trapped): give the demo the default back, as a terminal's Ctrl-C
# would find it.
env --default-signal=INT "$src/scripts/demo" >"$out" 2>&1 </dev/null &
pid=$!
for ((i = 0; i < 300; i++)); do
	grep -q '^== ping' "$out" && break
	sleep 0.1
done
grep -q '^== ping' "$out" || { kill -TERM "$pid"; wait "$pid"; fail "the demo never reached its ping"; }
kill -INT "$pid"
timeout 30 tail --pid="$pid" -f /dev/null
wait "$pid"
rc=$?
((rc != 0)) || fail "an interrupted demo exited 0"
check_clean "an interrupted run"
echo "ok: interrupted demo exited $rc and left nothing behind"
