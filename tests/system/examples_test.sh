#!/usr/bin/env bash
# The example programs (examples/*.c) as CI runs them:
#   - example_pair: every one of 300 pings comes back (no root);
#   - example_custom_signalling: two processes connect without a portal,
#     and it fails with a message when it cannot finish in time (no root);
#   - example_echo_gateway: in network namespaces (the demo's site from
#     scripts/lib/netlab.sh, root), a real floe-portal and a stock
#     floe-client (TUN); ping and a UDP echo from the client's namespace
#     are answered by the example through its userspace device.
# Each check prints "ok: ..." as it passes.
set -uo pipefail

src=${FLOE_SOURCE_DIR:-$(cd "${0%/*}/../.." && pwd)}
bin=${FLOE_BINARY_DIR:-$src/build}
PAIR_COUNT=300
ECHO_ADDR=100.64.255.1 # the gateway's tunnel IPv4 and the resource "echo"
ECHO_TIMEOUT_S=120     # bounds the echo gateway's run if the test dies
UDP_MSG=floe-udp-echo-check

for p in example_pair example_custom_signalling example_echo_gateway; do
	[[ -x $bin/$p ]] || { echo "FAIL: $bin/$p not built"; exit 1; }
done
tmp=$(mktemp -d /tmp/h15x-examples.XXXXXX)
fail() {
	echo "FAIL: $*"
	for f in "$tmp"/*.log; do
		[[ -f $f ]] && { echo "--- ${f##*/}"; tail -n 12 "$f"; }
	done
	exit 1
}

# --- No root: pair and custom-signalling.
out=$(timeout 90 "$bin/example_pair" --count $PAIR_COUNT --timeout 60 2>&1) || fail "example_pair: $out"
[[ $out == *"$PAIR_COUNT/$PAIR_COUNT packets came back; rtt us: min "* ]] || fail "example_pair printed: $out"
echo "ok: example_pair: ${out##*$'\n'}"

# Packets that cannot all come back within the bound: exit 1, and says so.
out=$(timeout 30 "$bin/example_pair" --count 100000 --timeout 1 2>&1)
rc=$?
((rc == 1)) || fail "example_pair over its bound: exit $rc (expected 1): $out"
[[ $out =~ ([0-9]+)/100000\ packets\ came\ back ]] && ((BASH_REMATCH[1] < 100000)) ||
	fail "example_pair over its bound printed: $out"
echo "ok: example_pair --timeout 1 with 100000 pings: exit 1 after ${BASH_REMATCH[0]}"

out=$(timeout 60 "$bin/example_custom_signalling" --count 50 --timeout 30 2>&1) ||
	fail "example_custom_signalling: $out"
[[ $out == *"50/50 UDP echoes came back through the tunnel"* ]] || fail "example_custom_signalling printed: $out"
echo "ok: example_custom_signalling: 50/50 UDP echoes, no portal"

# A bound that cannot be met: a clear message and a non-zero exit, in time.
t0=$SECONDS
out=$(timeout 30 "$bin/example_custom_signalling" --count 1000000 --timeout 1 2>&1)
rc=$?
((rc == 1)) || fail "example_custom_signalling over its bound: exit $rc (expected 1): $out"
[[ $out == *"timed out"* ]] || fail "example_custom_signalling over its bound said: $out"
((SECONDS - t0 <= 10)) || fail "example_custom_signalling --timeout 1 took $((SECONDS - t0)) s"
echo "ok: example_custom_signalling --timeout 1 with 1000000 echoes: exit 1, '${out%%$'\n'*}'"

for p in example_pair example_custom_signalling example_echo_gateway; do
	out=$("$bin/$p" --help) && [[ $out == "usage: "* ]] || fail "$p --help: $out"
	"$bin/$p" --no-such-option >/dev/null 2>&1
	rc=$?
	((rc == 2)) || fail "$p --no-such-option: exit $rc, expected 2"
done
echo "ok: --help prints a usage line; a bad option exits 2"

# --- Root: echo-gateway answers a real floe-client.
if [[ $(id -u) -ne 0 ]]; then
	rm -rf "$tmp"
	echo "SKIP: the echo-gateway check needs root (network namespaces)"
	exit 77
fi
for t in turnserver nft ping; do
	command -v "$t" >/dev/null || { rm -rf "$tmp"; echo "SKIP: $t not installed (scripts/deps)"; exit 77; }
done
for p in floe-portal floe-client floectl; do
	[[ -x $bin/$p ]] || fail "$bin/$p not built"
done

# shellcheck source=scripts/lib/netlab.sh
source "$src/scripts/lib/netlab.sh"
# The example's own pid in the gateway namespace (lab_bg's is a shell).
echo_pid() {
	local p
	for p in $(ip netns pids "$(lab_ns gateway)" 2>/dev/null); do
		[[ $(cat "/proc/$p/comm" 2>/dev/null) == example_echo_g* ]] && echo "$p"
	done
}
cleanup() {
	trap - EXIT INT TERM
	lab_floe_stop client
	local p
	p=$(echo_pid)
	# shellcheck disable=SC2086 # one pid per word
	[[ -z $p ]] || kill -TERM $p 2>/dev/null
	lab_floe_stop portal
	lab_down
	wait 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
lab_init "h15x$$" # unique per run
export FLOE_LOG=info

lab_floe_net
lab_floe_configs "$tmp" "$bin" || fail "keys"
# The demo's portal file, with the resource moved onto the gateway itself:
# the echo gateway is the host at its own tunnel address.
sed -i -e "/^\[Resource lan\]/,/^CIDR/{s/^\[Resource lan\]/[Resource echo]/;s|^CIDR = .*|CIDR = $ECHO_ADDR/32|}" \
	-e "s/^Resources = lan/Resources = echo/" -e "s/^Resource = lan/Resource = echo/" \
	-e "s/^\[Grant alice-lan\]/[Grant alice-echo]/" "$tmp/portal.conf"
grep -q "^CIDR = $ECHO_ADDR/32" "$tmp/portal.conf" && grep -q '^Resource = echo' "$tmp/portal.conf" ||
	fail "portal.conf: the echo resource was not written: $(cat "$tmp/portal.conf")"

for what in coturn portal; do
	lab_floe_start "$tmp" "$bin" "$what" || fail "$what did not come up"
done
lab_bg gateway "$tmp/echo-gateway.log" "$bin/example_echo_gateway" --key-file "$tmp/gateway.key" \
	--portal tcp://203.0.113.1:7400 --portal-key "$(cat "$tmp/portal.pub")" --stun 203.0.113.1:3478 \
	--local-address "$LAB_FLOE_GATEWAY_IP" --address $ECHO_ADDR --timeout $ECHO_TIMEOUT_S >/dev/null
lab_floe_until 10 grep -q '^ready: ' "$tmp/echo-gateway.log" || fail "the echo gateway was not welcomed"
echo "ok: example_echo_gateway welcomed by floe-portal"
lab_floe_start "$tmp" "$bin" client || fail "floe-client did not come up"

out=$(lab_exec client ping -c 5 -i 0.2 -W 5 $ECHO_ADDR 2>&1) || fail "ping $ECHO_ADDR from the client: $out"
[[ $out == *"5 received"* ]] || fail "ping: $out"
echo "ok: ping $ECHO_ADDR from floe-client's namespace: 5/5 replies from the example"

# UDP echo with bash's /dev/udp (a connected socket): what goes out comes back.
out=$(lab_exec client timeout 10 bash -c "exec 3<>/dev/udp/$ECHO_ADDR/7 && printf %s '$UDP_MSG' >&3 &&
	IFS= read -r -t 5 -N ${#UDP_MSG} reply <&3 && echo \"\$reply\"") || fail "UDP echo to $ECHO_ADDR:7: '$out'"
[[ $out == "$UDP_MSG" ]] || fail "UDP echo came back as '$out'"
echo "ok: UDP echo $ECHO_ADDR:7 from floe-client's namespace: '$out' came back"

# SIGTERM: the example stops cleanly and prints what it answered.
pid=$(echo_pid)
[[ -n $pid ]] || fail "the echo gateway is gone"
kill -TERM "$pid"
lab_floe_until 10 sh -c "! kill -0 $pid 2>/dev/null" || fail "the echo gateway did not stop on SIGTERM"
summary=$(grep '^answered ' "$tmp/echo-gateway.log") || fail "no summary from the echo gateway"
icmp=$(sed -n 's/^answered icmp \([0-9]*\) udp \([0-9]*\);.*/\1/p' <<<"$summary")
udp=$(sed -n 's/^answered icmp \([0-9]*\) udp \([0-9]*\);.*/\2/p' <<<"$summary")
((icmp >= 5 && udp >= 1)) || fail "echo gateway summary: $summary"
grep -q 'dropped malformed 0,' <<<"$summary" || fail "the kernel's packets were counted malformed: $summary"
grep -q '^flow .*: established' "$tmp/echo-gateway.log" || fail "no established event printed"
echo "ok: example_echo_gateway on SIGTERM: $summary"
echo "PASS: examples"
