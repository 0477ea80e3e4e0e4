#!/usr/bin/env bash
# NAT traversal grid (issue #6), with the real daemons in a network lab
# (scripts/lib/netlab.sh): floe-portal and coturn (TURN, long-term
# credentials, handed out by the portal) on the internet, floe-gateway with
# a resource behind it, floe-client.
#
# 1. Every (client NAT, gateway NAT) in {none, eim-eif, eim-apdf,
#    symmetric}^2, plus both behind one symmetric NAT (same LAN: only host
#    candidates can connect them, so this also shows the host pair wins
#    over the relay): ping + a 3-second iperf3 through the tunnel, then the
#    path from floectl show --json on both ends. Pairs that can punch
#    through end on a direct path (host/srflx/prflx on both ends); symmetric
#    against symmetric or against address-and-port-dependent filtering
#    cannot (the symmetric side's port towards the peer is unknown, the
#    other side filters on it), so they end on the relay. Printed as a table.
# 2. A packet of the full tunnel MTU (ping -s MTU-28 -M do) crosses a direct
#    pair and a relayed pair in both directions (client -> resource, and
#    resource -> client's tunnel address), and no underlay datagram is
#    fragmented on the way (a 1500-byte underlay holds WireGuard + TURN
#    ChannelData around a full tunnel packet).
# 3. 20% random loss of UDP datagrams during set-up (nftables numgen: this
#    kernel has no sch_netem): every pair of 1 still connects (first reply
#    through the tunnel within 60 s), and the loss rule dropped datagrams on
#    each. The loss is on the internet, on the same-LAN pair on its LAN (its
#    traffic never crosses the internet). Each pair runs in a lab of its own
#    (own prefix, internet, coturn, portal, NATs, daemons), LOSS_JOBS at
#    once: one after another, ~17 x 10 s would not fit the test's budget.
#    FailureTimeout is raised to 40 s (TURN allocations retry for seconds
#    under loss); the nodes retransmit STUN requests 12 times (libnice: 7,
#    with which relayed sessions often failed and started over, and the
#    slowest pair once missed the 60 s bound). Printed as a second grid: time to the first reply, ICE
#    nomination, nomination to the WireGuard handshake, flows asked for.
#    Why set-up is slow when it is: a lost handshake initiation or response
#    waits WireGuard's 5 s retry (REKEY_TIMEOUT; a relayed path crosses the
#    lossy internet four times per round trip, so ~60% of relayed
#    initiations are lost); a nominated path without a handshake 12 s later,
#    or an ICE session that failed, is replaced by a new flow.
#
# The lab (namespaces, veths, daemons, coturn, iperf3, temp files) is
# removed on exit, also on failure or interrupt; the test checks that
# nothing is left behind. Environment: FLOE_NAT_LAB (namespace prefix,
# default natg<pid>; the loss labs are <prefix>-l<N>), FLOE_NAT_LOSS_JOBS,
# and for debugging FLOE_NAT_PAIRS, FLOE_NAT_PARTS, FLOE_NAT_LOSS_LOGS.
set -uo pipefail

src=${FLOE_SOURCE_DIR:-$(cd "${0%/*}/../.." && pwd)}
bin=${FLOE_BINARY_DIR:-$src/build}

KINDS=(none eim-eif eim-apdf symmetric)
SAME_LAN_KIND=symmetric
LOSS_PERCENT=20
LOSS_JOBS=${FLOE_NAT_LOSS_JOBS:-6} # labs at once under loss (mostly idle: waiting for retries)
CONNECT_S=15      # intent to first reply on a clean network (measured: < 1 s)
CONNECT_LOSS_S=60 # the same under 20% loss: measured 0.04-34 s (see the header)
IPERF_S=3
MIN_MBITS=1

# shellcheck source=scripts/lib/netlab.sh
source "$src/scripts/lib/netlab.sh"
lab_floe_test_begin "${FLOE_NAT_LAB:-natg$$}" "$bin"
lab_prefix=$LAB
tmp=$LAB_TMP
fail() { lab_floe_fail "$@"; }

# Fragments crossing the internet (bridged, or to and from coturn).
lab_exec inet nft -f - <<'NFT' || fail "nft fragment counter"
table bridge floe_frag {
	counter frags { }
	chain f_fwd { type filter hook forward priority -10; ether type ip ip frag-off & 0x3fff != 0 counter name frags; }
	chain f_in { type filter hook input priority -10; ether type ip ip frag-off & 0x3fff != 0 counter name frags; }
	chain f_out { type filter hook output priority -10; ether type ip ip frag-off & 0x3fff != 0 counter name frags; }
}
NFT
fragments() { lab_exec inet nft -j list counter bridge floe_frag frags | jq -r '.nftables[1].counter.packets'; }

# expected CKIND GKIND: direct or relay.
expected() {
	case "$1:$2" in
	same-lan:*) echo direct ;;
	symmetric:symmetric | symmetric:eim-apdf | eim-apdf:symmetric) echo relay ;;
	*) echo direct ;;
	esac
}

now_ms() { echo $(($(date +%s%N) / 1000000)); }

# site_up CKIND GKIND [ICE_EXTRA]: the site, its daemons and iperf3 up.
site_up() { lab_floe_test_site "$@"; }
site_down() { lab_floe_test_site_down; }

# connect LABEL SECONDS: the first reply through the tunnel; sets SETUP_MS
# (first echo request, which makes the client ask for the flow, to its
# reply) and ICE_MS (intent to nomination, the client's log).
connect() {
	local t0 end
	t0=$(now_ms)
	end=$((SECONDS + $2))
	until lab_exec client ping -c 1 -W 1 10.3.0.2 >/dev/null 2>&1; do
		((SECONDS < end)) || fail "$1: no reply through the tunnel within $2 s"
	done
	SETUP_MS=$(($(now_ms) - t0))
	ICE_MS=$(grep '"Nominated path"' "$tmp/client.log" | tail -n 1 | jq -r '.duration_since_intent_ms // "?"')
}

# path LABEL: sets PATH_KIND (direct|relay: lab_floe_relayed), PATH_TEXT
# (the client's and the gateway's local candidate types) and RELAY_REASON
# (when floectl reports one).
path() {
	local cj gj ct gt
	cj=$(lab_floe_conn "$tmp" "$bin" client) || fail "$1: the client shows no connected connection"
	gj=$(lab_floe_conn "$tmp" "$bin" gateway) || fail "$1: the gateway shows no connected connection"
	ct=$(jq -r '.path.type' <<<"$cj")
	gt=$(jq -r '.path.type' <<<"$gj")
	[[ $ct =~ ^(host|srflx|prflx|relay)$ && $gt =~ ^(host|srflx|prflx|relay)$ ]] ||
		fail "$1: path types client '$ct', gateway '$gt'"
	PATH_TEXT="$ct/$gt"
	PATH_KIND=direct
	lab_floe_relayed "$tmp" "$bin" && PATH_KIND=relay
	RELAY_REASON=$(jq -r '.path.relay_reason // empty' <<<"$cj")
}

# mtu_both_ways LABEL: full-size packets both ways, none fragmented.
mtu_both_ways() {
	local mtu payload f0 f1
	mtu=$(lab_exec client cat /sys/class/net/floe0/mtu) || fail "$1: no floe0"
	payload=$((mtu - 28)) # IPv4 + ICMP headers
	lab_exec client ping -c 1 -W 1 -M "do" -s $((payload + 1)) 10.3.0.2 >/dev/null 2>&1 &&
		fail "$1: a packet one byte over the tunnel MTU $mtu left the client"
	f0=$(fragments)
	lab_exec client ping -c 3 -i 0.2 -W 3 -M "do" -s "$payload" 10.3.0.2 >/dev/null ||
		fail "$1: $mtu-byte packets client -> resource (and replies) did not cross"
	lab_exec res ping -c 3 -i 0.2 -W 3 -M "do" -s "$payload" 100.64.0.2 >/dev/null ||
		fail "$1: $mtu-byte packets resource -> client (and replies) did not cross"
	f1=$(fragments)
	((f1 == f0)) || fail "$1: $((f1 - f0)) underlay fragments for $mtu-byte tunnel packets"
	echo "ok: $1 path: $mtu-byte tunnel packets (the MTU) client -> resource and resource -> client, 0 underlay fragments; $((mtu + 1)) bytes refused"
}

# print_grid ARRAY: an associative array's cells (keys "ck:gk" and
# same-lan) as a Markdown table.
print_grid() {
	local -n cells=$1
	local ck gk
	printf '| client \\ gateway |'
	for gk in "${KINDS[@]}"; do printf ' %s |' "$gk"; done
	printf '\n|---|'
	for gk in "${KINDS[@]}"; do printf -- '---|'; done
	printf '\n'
	for ck in "${KINDS[@]}"; do
		printf '| %s |' "$ck"
		for gk in "${KINDS[@]}"; do printf ' %s |' "${cells[$ck:$gk]:-}"; done
		printf '\n'
	done
	echo "| same LAN ($SAME_LAN_KIND) | ${cells[same-lan]:-} |"
}

# --- 1 and 2: the grid on a clean network.
declare -A GRID=()
pairs=()
for ck in "${KINDS[@]}"; do
	for gk in "${KINDS[@]}"; do pairs+=("$ck:$gk"); done
done
pairs+=(same-lan)
# FLOE_NAT_PAIRS="ck:gk ...": only these; FLOE_NAT_PARTS="grid loss": which
# parts run (debugging: the MTU checks, which need a direct and a relayed
# pair, and the printed grid need the whole clean grid).
[[ -n ${FLOE_NAT_PAIRS:-} ]] && read -ra pairs <<<"$FLOE_NAT_PAIRS"
want() { [[ " ${FLOE_NAT_PARTS:-grid loss} " == *" $1 "* ]]; }
grid_pairs=()
want grid && grid_pairs=("${pairs[@]}")
mtu_direct=0 mtu_relay=0
grid_start=$SECONDS
for pair in "${grid_pairs[@]}"; do
	ck=${pair%%:*} gk=${pair#*:}
	[[ $pair == same-lan ]] && gk=$SAME_LAN_KIND
	label="client $ck, gateway $gk"
	[[ $pair == same-lan ]] && label="same LAN behind $SAME_LAN_KIND"
	site_up "$ck" "$gk"
	connect "$label" "$CONNECT_S"
	lab_exec client ping -c 3 -i 0.2 -W 2 10.3.0.2 >/dev/null || fail "$label: ping lost packets"
	out=$(lab_exec client timeout $((IPERF_S + 10)) iperf3 -c 10.3.0.2 -t "$IPERF_S" -J) ||
		fail "$label: iperf3: $(jq -r '.error // empty' <<<"$out")"
	mbits=$(jq -r '.end.sum_received.bits_per_second / 1000000 | floor' <<<"$out")
	((mbits >= MIN_MBITS)) || fail "$label: iperf3 $mbits Mbit/s"
	path "$label"
	want=$(expected "$ck" "$gk")
	[[ $pair == same-lan && $PATH_TEXT != host/host ]] && fail "$label: path $PATH_TEXT, expected host/host"
	[[ $PATH_KIND == "$want" ]] || fail "$label: path $PATH_TEXT ($PATH_KIND), expected $want"
	GRID[$pair]="$PATH_TEXT${RELAY_REASON:+ ($RELAY_REASON)}, $SETUP_MS ms (ICE $ICE_MS), $mbits Mbit/s"
	echo "ok: $label: $PATH_KIND ($PATH_TEXT${RELAY_REASON:+, $RELAY_REASON}), first reply ${SETUP_MS} ms, nominated ${ICE_MS} ms after intent, iperf3 $mbits Mbit/s"
	if [[ $PATH_KIND == direct && $pair == eim-apdf:eim-apdf ]] && ((!mtu_direct)); then
		mtu_both_ways "direct ($label)"
		mtu_direct=1
	elif [[ $PATH_KIND == relay ]] && ((!mtu_relay)); then
		mtu_both_ways "relayed ($label)"
		mtu_relay=1
	fi
	site_down
done
if [[ -n ${FLOE_NAT_PAIRS:-} ]] || ! want grid; then
	echo "ok: the pairs and parts asked for passed (partial run: no MTU check, no grid)"
else
	((mtu_direct && mtu_relay)) || fail "the MTU was not checked on both a direct and a relayed path"

	echo
	echo "NAT grid ($((SECONDS - grid_start)) s). Each cell: the path as the client's/gateway's local"
	echo "candidate type; set-up: first echo request (which asks for the flow) to its reply through"
	echo "the tunnel, and in brackets intent to ICE nomination; iperf3 TCP client -> resource."
	print_grid GRID
	echo
fi

# --- 3: 20% loss during set-up, every pair, each in a lab of its own
# (prefix $lab_prefix-lN: its own internet, coturn, portal, NATs and
# daemons), LOSS_JOBS labs at once. Connection only (ping): the loss rule
# must have dropped datagrams on each pair, and traffic flows once it stops.
# loss_pair PAIR N: runs in a subshell; its result line goes to
# $tmp/loss.N.res, its output (a failure's logs) to $tmp/loss.N.out.
loss_pair() {
	local pair=$1 n=$2 res=$tmp/loss.$2.res ck gk label loss_ns=inet drops attempts failures
	ck=${pair%%:*} gk=${pair#*:}
	[[ $pair == same-lan ]] && gk=$SAME_LAN_KIND loss_ns=g-nat
	label="$LOSS_PERCENT% loss: client $ck, gateway $gk"
	[[ $pair == same-lan ]] && label="$LOSS_PERCENT% loss: same LAN behind $SAME_LAN_KIND (loss on its LAN)"
	LAB_FLOE_PID=()
	lab_floe_test_begin "$lab_prefix-l$n" "$bin"
	tmp=$LAB_TMP
	site_up "$ck" "$gk" $'\nFailureTimeout = 40000'
	lab_loss "$LOSS_PERCENT" "$loss_ns" || fail "$label: nft loss rule"
	connect "$label" "$CONNECT_LOSS_S"
	# The loss ends with set-up (the first reply): what follows checks the
	# pair that set-up produced, without further loss deciding its fate.
	drops=$(lab_loss_drops "$loss_ns")
	lab_loss 0 "$loss_ns"
	((drops > 0)) || fail "$label: the loss rule dropped nothing"
	path "$label"
	lab_exec client ping -c 3 -i 0.2 -W 2 10.3.0.2 >/dev/null || fail "$label: no ping once the loss stopped"
	# Why set-up took long: flows asked for (1 = the first connection
	# made it) and why earlier connections failed.
	attempts=$(grep -c '"Requesting flow"' "$tmp/client.log")
	# Nomination to handshake on the connection that made it: ~5000 ms
	# more per lost initiation or response (WireGuard's REKEY_TIMEOUT).
	hs_ms=$(grep -E '"(Nominated path|Completed wireguard handshake)"' "$tmp/client.log" | tail -n 2 |
		jq -rs 'if length == 2 then .[1].duration_since_intent_ms - .[0].duration_since_intent_ms else "?" end')
	failures=$(grep '"Connection failed"' "$tmp/client.log" | jq -r '.reason' | sort | uniq -c |
		awk '{ c = $1; $1 = ""; printf "%s%dx%s", (NR > 1 ? "; " : ""), c, $0 }')
	# Fields apart by \x1f: a tab is whitespace to read, and an empty
	# field (no failures) would vanish.
	printf '%s\x1f%s\x1f%s\x1f%s\x1f%s\x1f%s\x1f%s\x1f%s\x1f%s\x1f%s\n' "$pair" "$PATH_KIND" "$PATH_TEXT" "$SETUP_MS" "$ICE_MS" \
		"$hs_ms" "$drops" "$attempts" "$failures" "$label" >"$res.new"
	# FLOE_NAT_LOSS_LOGS=DIR keeps each pair's logs (debugging).
	[[ -z ${FLOE_NAT_LOSS_LOGS:-} ]] || { mkdir -p "$FLOE_NAT_LOSS_LOGS/$n" && cp "$tmp"/*.log "$FLOE_NAT_LOSS_LOGS/$n/"; }
	site_down
	lab_floe_test_end
	mv "$res.new" "$res"
}

# On exit or a signal while the loss labs run: each gets SIGTERM and up to
# 30 s to remove its own lab (its daemons stop gently, 5 s each at most);
# whatever one leaves (killed half-way) is removed here, by its prefix.
loss_labs_down() {
	local pid ns
	for pid in "${loss_pids[@]}"; do kill -TERM "$pid" 2>/dev/null; done
	for pid in "${loss_pids[@]}"; do
		timeout 30 tail --pid="$pid" -f /dev/null 2>/dev/null || kill -KILL "$pid" 2>/dev/null
	done
	for ns in $(ip netns list | awk '{ print $1 }' | grep "^$lab_prefix-l[0-9]*-"); do
		ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null
		ip netns del "$ns" 2>/dev/null
	done
	rm -rf "/tmp/$lab_prefix-l"[0-9]*.*
	lab_floe_test_cleanup
}

run_loss() {
	loss_start=$SECONDS
	loss_pids=() running=() still=() ended=
	lab_auto_down loss_labs_down
	for ((i = 0; i < ${#pairs[@]}; i++)); do
		# At most LOSS_JOBS labs at once (coturn and the portal are this
		# shell's jobs too: wait -n on the labs only).
		if ((${#running[@]} >= LOSS_JOBS)); then
			wait -n -p ended "${running[@]}"
			still=()
			for p in "${running[@]}"; do [[ $p == "$ended" ]] || still+=("$p"); done
			running=("${still[@]}")
		fi
		(loss_pair "${pairs[i]}" "$i") >"$tmp/loss.$i.out" 2>&1 &
		loss_pids+=($!)
		running+=($!)
	done
	wait "${loss_pids[@]}"
	loss_pids=()
	lab_auto_down lab_floe_test_cleanup
	declare -A LOSS=()
	for ((i = 0; i < ${#pairs[@]}; i++)); do
		if [[ ! -s $tmp/loss.$i.res ]]; then
			sed 's/^/    /' "$tmp/loss.$i.out"
			fail "$LOSS_PERCENT% loss, pair ${pairs[i]}: its lab failed (its output above)"
		fi
		IFS=$'\x1f' read -r pair kind ptext setup ice hs drops attempts failures label <"$tmp/loss.$i.res"
		echo "ok: $label: connected, $kind ($ptext), first reply $setup ms, nominated $ice ms after intent, handshake $hs ms after nomination, $drops datagrams dropped, flows requested $attempts${failures:+ (failed: $failures)}"
		LOSS[$pair]="$kind, $setup ms (ICE $ice, HS +$hs), $attempts flow(s), $drops drops"
	done
	echo
	echo "$LOSS_PERCENT% loss during set-up ($((SECONDS - loss_start)) s, $LOSS_JOBS labs at once). Each cell: the path;"
	echo "first echo request to its reply (60 s bound), intent to nomination and nomination to the"
	echo "handshake on the connection that made it, flows the client asked for (1: its first"
	echo "connection made it), datagrams the loss rule dropped."
	print_grid LOSS
	echo
	echo "ok: every pair under $LOSS_PERCENT% loss connected ($((SECONDS - loss_start)) s)"
}
want loss && run_loss

# --- A lab that dies half-way (SIGTERM while coturn and a site are up)
# removes itself: lab_auto_down.
child=$(mktemp -d "/tmp/$lab_prefix-child.XXXXXX")
FLOE_NETLAB=$src/scripts/lib/netlab.sh CHILD_LAB="$lab_prefix-x" CHILD_DIR=$child bash -c '
	source "$FLOE_NETLAB"
	lab_init "$CHILD_LAB"
	lab_auto_down "rm -rf $CHILD_DIR"
	lab_internet
	lab_floe_site_same_lan eim-apdf
	lab_coturn inet 203.0.113.1 u p "$CHILD_DIR/coturn.log" >/dev/null
	echo up >"$CHILD_DIR/up"
	sleep 60 &
	LAB_PIDS+=($!)
	wait' &
child_pid=$!
lab_floe_until 10 test -e "$child/up" || fail "the child lab did not come up"
child_procs=$(for ns in inet gateway; do ip netns pids "$lab_prefix-x-$ns"; done)
[[ -n $child_procs ]] || fail "the child lab runs nothing"
kill -TERM "$child_pid"
wait "$child_pid"
rc=$?
((rc == 143)) || fail "the child lab exited $rc on SIGTERM"
# shellcheck disable=SC2086
survivor=$(lab_gone $child_procs) || fail "the child lab's $survivor outlived it"
ip netns list | grep -q "^$lab_prefix-x-" && fail "the child lab's namespaces outlived it"
[[ -e $child ]] && fail "the child lab's hook did not run"
echo "ok: a lab killed half-way (SIGTERM) removed its namespaces, processes and files"

# --- Nothing left behind.
lab_floe_test_end
