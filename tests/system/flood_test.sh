#!/usr/bin/env bash
# system/flood: handshake floods (issue #7).
#   (a) floe-wg on one static port, flooded by bench_flood with >= 50,000
#       MAC1-valid initiations per second from one namespace for ~10 s;
#       meanwhile 100 legitimate initiators (bench_handshakes: the engine,
#       one key and one source address each) must each complete within
#       10 s; floe-wg's RSS grows < 10%, its CPU share is printed and
#       bounded, and it sent cookie replies.
#   (b) floe-gateway with the portal (netlab's demo site), after the same
#       churn twice without a flood (the RSS baseline):
#       (b1) an attacker on the internet floods a live connection's port
#       (alice's, from floectl show --json) at the same rate while
#       GW_CLIENTS clients (own namespaces, keys and grants) each reconnect
#       GW_ROUNDS times (100 connections, each carrying a ping within 10 s
#       of the client's start; gateway RSS < 10 points above the churn
#       alone). The flood must reach the gateway's socket and not its
#       engine: libnice drops datagrams from unknown sources.
#       (b2) the attacker forges alice's 5-tuple (bench_flood --source):
#       the engine answers with cookie replies, alice's connection keeps
#       its path and still carries a ping, each client (starting 250 ms
#       apart) reconnects once within 10 s.
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
# floe-wg answers each flood datagram with three BLAKE2s MACs and a cookie
# reply (XChaCha20-Poly1305), plus the kernel's cost of receiving and
# sending it over veth (charged to floe-wg): measured ~9 us each, ~50% of a
# core at 56k/s. One DH per datagram instead would be ~50-100 us: the rate
# could not be served at all. 75% leaves room for a busy machine.
CPU_MAX_PCT=75

GW_CLIENTS=${FLOE_FLOOD_GW_CLIENTS:-20}
GW_ROUNDS=${FLOE_FLOOD_GW_ROUNDS:-5}
# (b2): under load a client's handshake needs a cookie and WireGuard's
# 5 s retry after portal and ICE (6.4-6.6 s measured on a quiet machine);
# a second retry would be 10 s in: the issue's 10 s tells them apart.
FORGED_LIMIT_S=${FLOE_FLOOD_FORGED_LIMIT_S:-10}
STAGGER_MS=${FLOE_FLOOD_STAGGER_MS:-250}   # (b2): client i starts i * 250 ms late

tag="h19f$$"
NS_S="$tag-s" NS_A="$tag-a" NS_C="$tag-c"
work=$(mktemp -d "/tmp/$tag.XXXXXX")
pids=()

cleanup() {
	local rc=$?
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	for ns in "$NS_S" "$NS_A" "$NS_C"; do ip netns del "$ns" 2>/dev/null || true; done
	if declare -F lab_down >/dev/null; then
		for p in $(jobs -p); do kill "$p" 2>/dev/null || true; done
		lab_down >/dev/null 2>&1 || true
	fi
	if ((rc != 0)); then
		for f in "$work"/*.log "$work"/gw/gateway.log; do [[ -f $f ]] && { echo "--- $f"; tail -n 20 "$f"; }; done
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

# FLOE_FLOOD_PARTS="a b" (default) runs both parts; one letter runs one.
PARTS=${FLOE_FLOOD_PARTS:-a b}
if [[ $PARTS == *a* ]]; then
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
fi
for ns in "$NS_S" "$NS_A" "$NS_C"; do ip netns del "$ns"; done
[[ $PARTS == *b* ]] || { echo PASS; exit 0; }

# ---------------------------------------------------------------------------
step "(b) floe-gateway: a ${FLOOD_RATE}/s flood at a live connection's port, ${GW_CLIENTS} clients x ${GW_ROUNDS} reconnections"
for p in floe-portal floe-gateway floe-client floectl; do
	[[ -x $bin/$p ]] || fail "$bin/$p not built"
done
for t in turnserver nft jq ping; do
	command -v "$t" >/dev/null || { echo "SKIP (b): $t is not installed (scripts/deps)"; echo PASS; exit 0; }
done
# netlab's helpers expect no errexit (they test and go on).
set +e
# shellcheck source=scripts/lib/netlab.sh
source "$root/scripts/lib/netlab.sh"
lab_init "h19g$$"
gdir=$work/gw
mkdir -p "$gdir"
lab_floe_net
lab_floe_configs "$gdir" "$bin" || fail "keys"
# More clients: each its own key, tunnel address, grant and namespace.
for ((i = 0; i < GW_CLIENTS; i++)); do
	n=client$i
	(umask 077; "$bin/floectl" genkey >"$gdir/$n.key")
	"$bin/floectl" pubkey <"$gdir/$n.key" >"$gdir/$n.pub"
	printf '\n[Client c%d]\nPublicKey = %s\nTunnelIPv4 = 100.64.1.%d\n\n[Grant c%d-lan]\nClient = c%d\nResource = lan\n' \
		"$i" "$(cat "$gdir/$n.pub")" "$((i + 1))" "$i" "$i" >>"$gdir/portal.conf"
	lab_host c "$n" "10.1.0.$((20 + i))"
	lab_floe_node_conf "$gdir" "$n" "10.1.0.$((20 + i))" 'Name = floe0' >"$gdir/$n.conf"
done
export FLOE_LOG=info
for what in coturn portal gateway client; do
	lab_floe_start "$gdir" "$bin" "$what" || fail "$what did not come up"
done
# The victim: alice's connection, kept up; its gateway port is the target,
# its remote address (alice's NAT mapping) the 5-tuple the second attacker
# forges.
lab_exec client ping -c 1 -W 5 10.3.0.2 >/dev/null || fail "alice: no ping through the tunnel"
victim=$(lab_floe_show "$gdir" "$bin" gateway --json | jq -c '[.connections[] | select(.path.local != null)][0]')
target=$(jq -r '.path.local' <<<"$victim")
forged=$(jq -r '.path.remote' <<<"$victim")
victim_cid=$(jq -r '.cid' <<<"$victim")
[[ $target == *:* && $forged == *:* ]] || fail "no gateway connection path in floectl show --json"
gw_pid=$(lab_floe_pid gateway)
gpub=$(cat "$gdir/gateway.pub")

# One reconnection cycle for client i: start, ping the resource until it
# answers (bounded), record seconds from start, stop.
reconnect_rounds() {
	local i=$1 n=client$1 r t0 ok pid
	trap - EXIT   # a worker subshell: the lab is the main shell's to clean
	# STAGGER_MS_NOW: client i starts i times that late.
	((${STAGGER_MS_NOW:-0} > 0)) && sleep "$(awk -v i="$i" -v ms="$STAGGER_MS_NOW" 'BEGIN { print i * ms / 1000 }')"
	for ((r = 0; r < ${ROUNDS_NOW:-$GW_ROUNDS}; r++)); do
		t0=$(date +%s.%N)
		ip netns exec "$(lab_ns "$n")" "$bin/floe-client" --config "$gdir/$n.conf" \
			>>"$gdir/$n.log" 2>&1 &
		pid=$!
		ok=0
		while awk -v t0="$t0" -v lim="${LIMIT_NOW:-$HANDSHAKE_LIMIT_S}" -v now="$(date +%s.%N)" \
			'BEGIN { exit !(now - t0 < lim) }'; do
			if lab_exec "$n" ping -c 1 -W 1 10.3.0.2 >/dev/null 2>&1; then
				ok=1
				break
			fi
		done
		if ((ok)); then
			awk -v t0="$t0" -v now="$(date +%s.%N)" 'BEGIN { printf "%.2f\n", now - t0 }'
		else
			echo "timeout"
		fi
		kill -TERM "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
		lab_floe_until 5 sh -c "! ip -n $(lab_ns "$n") link show floe0"
	done >"$gdir/times.$i"
}

all_rounds() {
	local p workers=()
	for ((i = 0; i < GW_CLIENTS; i++)); do
		reconnect_rounds "$i" &
		workers+=($!)
	done
	for p in "${workers[@]}"; do wait "$p"; done
}
# Baseline in the same run: the same reconnections with no flood. The
# gateway's RSS grows with connection churn alone (~70% over the first
# 100 reconnections from a fresh start: the node's 8 MiB packet pool,
# handed out in FIFO order, and its rings reaching their high-water marks;
# docs/perf.md "Memory over reconnections"); the flood's share is what is
# held to < 10%, measured from the end of the baseline.
grss_fresh=$(rss_kb "$gw_pid")
all_rounds
grep -q timeout "$gdir"/times.* && fail "baseline: a client did not connect within ${HANDSHAKE_LIMIT_S} s without a flood"
cat "$gdir"/times.* >"$gdir/base.times"
# The churn keeps growing RSS (a second round of 100 adds ~5% more), so
# the flood phase is compared with a no-flood phase of the same length.
grss_base=$(rss_kb "$gw_pid")
all_rounds
grep -q timeout "$gdir"/times.* && fail "baseline 2: a client did not connect without a flood"
cat "$gdir"/times.* >>"$gdir/base.times"
sleep 1
grss0=$(rss_kb "$gw_pid")
churn_pct=$(awk -v a="$grss_base" -v b="$grss0" 'BEGIN { printf "%.1f", 100 * (b - a) / a }')
echo "   no flood: $(grep -c '^[0-9]' "$gdir/base.times") connections, max $(sort -n "$gdir/base.times" | tail -n 1) s;" \
	"gateway RSS ${grss_fresh} -> ${grss_base} -> ${grss0} KiB from connection churn alone (last 100: ${churn_pct}%)"
# Where a flood's datagrams end: the gateway host's kernel counts every
# UDP datagram it delivers to a socket (InDatagrams, field 2 of /proc/net/snmp)
# or finds no socket for (NoPorts, 3); the engine counts what reaches it
# (handshake_initiations_received, cookie_replies_sent in floectl show).
udp_in() { lab_exec gateway awk '/^Udp:/ && $2 ~ /^[0-9]+$/ { print $2, $3 }' /proc/net/snmp; }
engine() { lab_floe_show "$gdir" "$bin" gateway --json | jq -r ".totals.$1"; }
sent_of() { sed -n 's/.* sent=\([0-9]*\).*/\1/p' "$1"; }

# Connection times of the last all_rounds: ok count, timeouts, p50, max.
times_summary() {
	cat "$gdir"/times.* >"$gdir/$1.times"
	n_ok=$(grep -c '^[0-9]' "$gdir/$1.times" || true)
	n_to=$(grep -c timeout "$gdir/$1.times" || true)
	worst=$(sort -n "$gdir/$1.times" | grep '^[0-9]' | tail -n 1)
	p50=$(sort -n "$gdir/$1.times" | grep '^[0-9]' | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }')
}

# (b1) The attacker is on the internet, beside the portal, and floods the
# connection's port at the gateway's NAT (full cone: forwarded) while the
# clients reconnect. libnice hands a connection only datagrams from its
# remote candidates (nice_component_verify_remote_candidate; anything else
# is dropped as "from unknown source", uncounted by libnice): the
# datagrams must reach the gateway's socket and none of them the engine.
# Long enough for every round (each ends within the limit plus a stop);
# stopped with SIGTERM when the clients are done.
read -r in0 noport0 < <(udp_in)
hs_in0=$(engine handshake_initiations_received)
cookies0=$(engine cookie_replies_sent)
ip netns exec "$(lab_ns inet)" "$FLOOD" --target "$target" --public-key "$gpub" --rate "$FLOOD_RATE" \
	--duration-s $((3 + GW_ROUNDS * (HANDSHAKE_LIMIT_S + 6))) >"$gdir/flood-unknown.log" 2>&1 &
gflood=$!
sleep 2
all_rounds
grss1=$(rss_kb "$gw_pid")
kill -TERM "$gflood" 2>/dev/null || true
wait "$gflood" 2>/dev/null || true
read -r in1 noport1 < <(udp_in)
hs_in1=$(engine handshake_initiations_received)
cookies1=$(engine cookie_replies_sent)
times_summary b1
ggrowth=$(awk -v a="$grss0" -v b="$grss1" 'BEGIN { printf "%.1f", 100 * (b - a) / a }')
usent=$(sent_of "$gdir/flood-unknown.log")
echo "   (b1) from an unknown source to $target: $(cat "$gdir/flood-unknown.log")"
echo "        gateway host: UDP delivered to a socket +$((in1 - in0)), no port +$((noport1 - noport0));" \
	"engine: initiations received +$((hs_in1 - hs_in0)), cookie replies +$((cookies1 - cookies0))"
echo "        connections: ${n_ok} connected, ${n_to} timed out (limit ${HANDSHAKE_LIMIT_S} s); p50 ${p50:-?} s, max ${worst:-?} s"
echo "        gateway: RSS ${grss0} -> ${grss1} KiB (${ggrowth}%, the same churn without flood: ${churn_pct}%)"
# Half of it at least reached the connection's socket (not a NAT drop) ...
((${usent:-0} > 0 && in1 - in0 >= ${usent:-0} / 2)) ||
	fail "(b1) the flood did not reach the gateway's socket (${usent:-?} sent, delivered +$((in1 - in0)))"
# ... and none of it the engine: no cookie reply, and the legitimate
# connections account for every initiation (one each, a few retries).
((cookies1 == cookies0 && hs_in1 - hs_in0 <= 3 * GW_CLIENTS * GW_ROUNDS)) ||
	fail "(b1) datagrams from an unknown source reached the engine: initiations +$((hs_in1 - hs_in0)), cookie replies +$((cookies1 - cookies0))"
((n_ok == GW_CLIENTS * GW_ROUNDS)) ||
	fail "(b1) ${n_to} of $((GW_CLIENTS * GW_ROUNDS)) connections did not carry a ping within ${HANDSHAKE_LIMIT_S} s"
awk -v g="$ggrowth" -v c="$churn_pct" -v m="$RSS_GROWTH_MAX_PCT" 'BEGIN { exit !(g - c < m) }' ||
	fail "(b1) floe-gateway RSS grew ${ggrowth}% under the flood vs ${churn_pct}% without (limit: ${RSS_GROWTH_MAX_PCT} points more)"

# (b2) The attacker forges alice's 5-tuple (her NAT's public address and
# port: the connection's ICE remote), which passes libnice's check: the
# engine takes the load, answering with cookie replies instead of a DH,
# sent on the connection's ICE path (to alice, who drops them). Alice's
# connection must keep its path and carry a ping after, and each client
# must reconnect once during it. The device is under load for everyone
# then, so a client's first initiation only earns a cookie and its retry
# comes WireGuard's REKEY_TIMEOUT (5 s) later, after portal and ICE,
# within FORGED_LIMIT_S (see docs/perf.md). The clients
# start STAGGER_MS apart: all behind one NAT address, 20 MAC2-carrying
# retries within WireGuard's 333 ms of jitter would meet the per-source
# limit (20/s, burst 5) and wait 5 s more each (measured: 12 drops, 2 of
# 20 past 20 s) - WireGuard's rule, not what this part tests.
read -r in0 noport0 < <(udp_in)
cookies0=$(engine cookie_replies_sent)
ip netns exec "$(lab_ns inet)" "$FLOOD" --target "$target" --source "$forged" --public-key "$gpub" \
	--rate "$FLOOD_RATE" --duration-s $((3 + FORGED_LIMIT_S + 6 + GW_CLIENTS * STAGGER_MS / 1000)) \
	>"$gdir/flood.log" 2>&1 &
gflood=$!
sleep 2
ROUNDS_NOW=1 LIMIT_NOW=$FORGED_LIMIT_S STAGGER_MS_NOW=$STAGGER_MS all_rounds
kill -TERM "$gflood" 2>/dev/null || true
wait "$gflood" 2>/dev/null || true
read -r in1 noport1 < <(udp_in)
cookies1=$(engine cookie_replies_sent)
after=$(lab_floe_show "$gdir" "$bin" gateway --json | jq -c --arg cid "$victim_cid" '.connections[] | select(.cid == $cid)')
times_summary b2
fsent=$(sent_of "$gdir/flood.log")
echo "   (b2) from alice's forged 5-tuple $forged to $target: $(cat "$gdir/flood.log")"
echo "        gateway host: UDP delivered to a socket +$((in1 - in0)), no port +$((noport1 - noport0));" \
	"engine: cookie replies +$((cookies1 - cookies0))"
echo "        connections: ${n_ok} connected, ${n_to} timed out (limit ${FORGED_LIMIT_S} s); p50 ${p50:-?} s, max ${worst:-?} s"
echo "        alice's connection after: $(jq -c '{state, path}' <<<"${after:-null}")"
# The engine answered the forged flood with cookie replies (no DH): at
# least half of what reached the socket.
((${fsent:-0} > 0 && in1 - in0 > 0 && cookies1 - cookies0 >= (in1 - in0) / 2)) ||
	fail "(b2) the engine sent $((cookies1 - cookies0)) cookie replies for $((in1 - in0)) forged initiations delivered"
# A cookie reply never moves an endpoint: alice's connection keeps its path.
[[ -n $after && $(jq -r '.path.remote' <<<"$after") == "$forged" && $(jq -r '.path.local' <<<"$after") == "$target" ]] ||
	fail "(b2) alice's connection changed or went: ${after:-gone} (was $victim)"
lab_exec client ping -c 1 -W 5 10.3.0.2 >/dev/null || fail "(b2) alice: no ping through the tunnel after the flood"
# The admission's own totals (rate-limited sources among them) are logged
# by the gateway when it stops.
kill -TERM "$gw_pid" 2>/dev/null || true
lab_floe_until 10 sh -c "! kill -0 $gw_pid" || fail "floe-gateway did not stop on SIGTERM"
dstats=$(grep '"Device stats"' "$gdir/gateway.log" | tail -n 1 | jq -c 'del(.time, .severity, .target, .message)')
echo "        gateway device (admission) totals: ${dstats:-none logged}"
((n_ok == GW_CLIENTS)) ||
	fail "(b2) ${n_to} of ${GW_CLIENTS} connections did not carry a ping within ${FORGED_LIMIT_S} s under a flood that reaches the engine"
[[ -n $dstats ]] || fail "floe-gateway logged no device stats when it stopped"
echo "PASS"
