#!/usr/bin/env bash
# Roaming and recovery (issue #6), with the real daemons in the network lab
# (scripts/lib/netlab.sh): floe-portal and coturn on the internet,
# floe-gateway with a resource behind it, floe-client.
#
# 1. Roaming: the client's NAT gets a new public address in the middle of a
#    TCP iperf3 run and forgets its mappings (conntrack flushed): what the
#    client sends, on its old sockets too, now leaves from a new address
#    and port, and nothing reaches the old one. Traffic
#    resumes within 5 s, the iperf3 run completes and the gateway still
#    never sent a handshake initiation (how many flows the portal had to
#    authorize again is printed: recovery may keep the connection or
#    replace it).
# 2. coturn killed and restarted under a relayed connection (both behind
#    symmetric NATs): traffic resumes within 10 s of coturn coming back.
# 3. A direct path that dies (the internet drops every datagram between the
#    two NATs; coturn stays reachable) moves to the relay: traffic resumes
#    within 15 s on a relayed path (issue #6 sets no figure; ~9 s measured).
#
# Outages are measured from a ping every 0.1 s (ping -D timestamps): the
# gap between the last reply before the event and the first one after it.
# The lab is removed on exit, also on failure or interrupt, and the test
# checks that nothing is left behind. Environment: FLOE_NAT_LAB (namespace
# prefix, default natr<pid>).
set -uo pipefail

src=${FLOE_SOURCE_DIR:-$(cd "${0%/*}/../.." && pwd)}
bin=${FLOE_BINARY_DIR:-$src/build}

ROAM_RESUME_S=5
COTURN_RESUME_S=10
DIRECT_LOST_RESUME_S=15 # no target in issue #6; measured ~9 s (consent lost, then a new connection)
IPERF_S=12
PING_INTERVAL_S=0.1

# shellcheck source=scripts/lib/netlab.sh
source "$src/scripts/lib/netlab.sh"
lab_floe_test_begin "${FLOE_NAT_LAB:-natr$$}" "$bin"
tmp=$LAB_TMP
fail() { lab_floe_fail "$@"; }

site_up() { # CKIND GKIND: up, and traffic through the tunnel
	lab_floe_test_site "$1" "$2"
	lab_floe_until 15 lab_exec client ping -c 1 -W 1 10.3.0.2 || fail "$1/$2: no traffic through the tunnel"
}
site_down() { lab_floe_test_site_down; }
path_type() { lab_floe_conn "$tmp" "$bin" "$1" | jq -r '.path.type'; }
relay_reason() { lab_floe_conn "$tmp" "$bin" client | jq -r '.path.relay_reason // empty'; }
counter() { lab_floe_show "$tmp" "$bin" "$1" --json | jq -er ".totals.$2"; }

# A ping every 0.1 s from the client to the resource, into $tmp/$1.ping.
pinger_start() {
	lab_exec client ping -D -n -i "$PING_INTERVAL_S" -W 1 10.3.0.2 >"$tmp/$1.ping" 2>&1 &
	PINGER=$!
}
pinger_stop() { kill "$PINGER" 2>/dev/null; wait "$PINGER" 2>/dev/null; }
# observe NAME T WINDOW_S [FROM]: waits until WINDOW_S after T, then sets
# GAP (the longest time without a reply from 1 s before FROM, default T, on)
# and RESUMED (seconds from T to the reply that ended that gap; 0 if it
# ended before T). Fails unless replies still come at the end of the window.
observe() {
	local out
	sleep "$(awk -v t="$2" -v w="$3" -v now="$(date +%s.%N)" 'BEGIN { d = t + w - now; print (d > 0 ? d : 0) }')"
	out=$(sed -n 's/^\[\([0-9.]*\)\].*icmp_seq.*time=.*/\1/p' "$tmp/$1.ping" |
		awk -v t="$2" -v w="$3" -v f="${4:-$2}" '$1 >= f - 1 && $1 <= t + w {
				if (p && $1 - p > g) { g = $1 - p; r = $1 - t }
				p = $1
			}
			END { printf "%.2f %.2f %.2f", g, r < 0 ? 0 : r, t + w - p }')
	read -r GAP RESUMED LAST_AGO <<<"$out"
	awk -v l="$LAST_AGO" 'BEGIN { exit !(l <= 1) }' ||
		fail "$1: no reply in the last second of the ${3} s window (last ${LAST_AGO} s before its end)"
}
# within LABEL SECONDS LIMIT: fails unless SECONDS <= LIMIT.
within() {
	awk -v r="$2" -v l="$3" 'BEGIN { exit !(r <= l) }' || fail "$1: traffic again after $2 s (limit $3 s)"
}

# FLOE_NAT_PARTS="roam addr coturn direct": which parts run (debugging).
want() { [[ " ${FLOE_NAT_PARTS:-roam addr coturn direct} " == *" $1 "* ]]; }

# under_iperf NAME LABEL CMD...: 3 s into a TCP iperf3 run (and a ping every
# 0.1 s) runs CMD (the change), then checks: longest gap <= ROAM_RESUME_S,
# iperf3 completed, the gateway sent no handshake initiation. Sets MBITS and
# FLOWS (flows the portal authorized since).
under_iperf() {
	local name=$1 label=$2 iperf rc flows0 sent t_change t_done
	shift 2
	flows0=$(grep -c '"Authorizing flow"' "$tmp/portal.log")
	pinger_start "$name"
	lab_exec client timeout $((IPERF_S + 20)) iperf3 -c 10.3.0.2 -t "$IPERF_S" -J >"$tmp/$name.iperf" 2>&1 &
	iperf=$!
	sleep 3
	t_change=$(date +%s.%N)
	"$@"
	# The window from when the change is complete (ip and nft take
	# seconds on a loaded machine), the gap from when it began.
	t_done=$(date +%s.%N)
	observe "$name" "$t_done" $((ROAM_RESUME_S + 3)) "$t_change"
	wait "$iperf"
	rc=$?
	pinger_stop
	within "$label" "$GAP" "$ROAM_RESUME_S"
	((rc == 0)) || fail "$label: iperf3 exited $rc: $(jq -r '.error // empty' "$tmp/$name.iperf")"
	MBITS=$(jq -r '.end.sum_received.bits_per_second / 1000000 | floor' "$tmp/$name.iperf")
	sent=$(counter gateway handshake_initiations_sent) || fail "floectl show --json (gateway)"
	((sent == 0)) || fail "$label: the gateway sent $sent handshake initiations"
	FLOWS=$(($(grep -c '"Authorizing flow"' "$tmp/portal.log") - flows0))
}

# --- 1. Roaming: a new public address for the client mid-iperf3.
renumber_client_nat() {
	lab_nat_set c eim-apdf 203.0.113.11 10.1.0.0/24
	lab_conntrack_flush c-nat || fail "roaming: conntrack flush"
}

part_roam() {
site_up eim-apdf eim-eif
lab_floe_relayed "$tmp" "$bin" && fail "roaming: the pair did not start on a direct path"
under_iperf roam "roaming: the client's new NAT address" renumber_client_nat
echo "ok: roaming: client NAT 203.0.113.10 -> 203.0.113.11, mappings flushed, mid-iperf3: longest gap $GAP s (traffic again $RESUMED s after the change), iperf3 completed ($MBITS Mbit/s), gateway handshake_initiations_sent 0, flows authorized again: $FLOWS"
site_down
}

# --- 1b. Roaming on the client's own address: mid-iperf3 the client's LAN
# address is replaced inside its namespace (new address added, old one
# deleted, default route re-added): behind a NAT (eim-apdf: it translates the
# whole LAN, the new address included) and with no NAT (kind none: the LAN is
# public, so this is the client's public address changing). Such a client
# pins no LocalAddress (a pinned address that goes away cannot roam): it
# gathers every address of its namespace, and addrwatch reports the change.
# The old sockets' address is gone, so only a replacement connection can
# carry traffic: longest gap <= 5 s, iperf3 completes, the gateway sends no
# handshake initiation, and the client's grant holds (the resource answers).
site_up_roamer() { # CKIND GKIND: the client without LocalAddress
	local what
	lab_floe_site "$1" "$2"
	lab_floe_node_confs "$tmp"
	sed -i '/^LocalAddress/d' "$tmp/client.conf"
	for what in iperf3 gateway client; do
		lab_floe_start "$tmp" "$bin" "$what" || fail "$1/$2: $what did not come up"
	done
	lab_floe_until 15 lab_exec client ping -c 1 -W 1 10.3.0.2 || fail "$1/$2: no traffic through the tunnel"
}

# gathers_on ADDR: the client's UDP sockets (its ICE sockets: nothing else
# there uses UDP) are bound to ADDR and never to its tunnel address: a node
# without LocalAddress gathers on every address but its own TUN's (node.c).
gathers_on() {
	local socks
	socks=$(lab_exec client ss -Huan | awk '{ print $4 }')
	grep -q "^$1:" <<<"$socks" || fail "roaming: no ICE socket on $1 (sockets: $(echo $socks))"
	grep -q '^100\.64\.0\.2:' <<<"$socks" && fail "roaming: the client gathers on its own tunnel address 100.64.0.2"
	return 0
}

# readdress_client NEW_IP: the client's eth0 gets NEW_IP instead of its old
# address (a /24 on the same LAN), as a DHCP lease change does.
readdress_client() {
	local old
	old=$(lab_exec client ip -4 -o addr show dev eth0 | awk '{ print $4 }')
	lab_exec client sysctl -qw net.ipv4.conf.eth0.promote_secondaries=1
	lab_exec client ip addr add "$1/24" dev eth0 &&
		lab_exec client ip addr del "$old" dev eth0 &&
		lab_exec client ip route replace default via "${1%.*}.1" ||
		fail "readdressing the client to $1"
}

part_addr() {
local ck
for ck in eim-apdf none; do
	site_up_roamer "$ck" eim-eif
	lab_floe_relayed "$tmp" "$bin" && fail "roaming ($ck): the pair did not start on a direct path"
	gathers_on 10.1.0.2
	under_iperf "addr-$ck" "roaming ($ck): the client's own address" readdress_client 10.1.0.3
	lab_exec client ping -c 3 -i 0.2 -W 2 10.3.0.2 >/dev/null || fail "roaming ($ck): no ping to the resource after the change (grant lost?)"
	gathers_on 10.1.0.3
	local_addr=$(lab_floe_conn "$tmp" "$bin" client | jq -r '.path.local')
	[[ $local_addr == 10.1.0.3:* || $local_addr == 203.0.113.* ]] ||
		fail "roaming ($ck): the client's path still leaves from $local_addr"
	echo "ok: roaming ($ck NAT): client address 10.1.0.2 -> 10.1.0.3 mid-iperf3: longest gap $GAP s (traffic again $RESUMED s after the change), iperf3 completed ($MBITS Mbit/s), gateway handshake_initiations_sent 0, path now from $local_addr, grant held (resource answers), flows authorized again: $FLOWS"
	site_down
done
}

# --- 2. coturn killed and restarted under a relayed connection.
part_coturn() {
site_up symmetric symmetric
lab_floe_relayed "$tmp" "$bin" || fail "coturn restart: the pair is not relayed"
pinger_start coturn
sleep 1
t_kill=$(date +%s.%N)
lab_floe_stop coturn
sleep 3
lab_floe_start "$tmp" "$bin" coturn || fail "coturn did not come back"
t_back=$(date +%s.%N)
observe coturn "$t_back" $((COTURN_RESUME_S + 3)) "$t_kill"
pinger_stop
within "coturn restart, from coturn back" "$RESUMED" "$COTURN_RESUME_S"
echo "ok: coturn restart under a relayed connection: traffic again $RESUMED s after coturn came back (outage $GAP s from the kill; client path $(path_type client), gateway $(path_type gateway))"
site_down
}

# --- 3. A direct path that dies moves to the relay.
part_direct() {
site_up eim-apdf eim-apdf
lab_floe_relayed "$tmp" "$bin" && fail "direct path lost: the pair did not start on a direct path"
pinger_start direct
sleep 1
t_cut=$(date +%s.%N)
# Between the two NATs only (coturn is 203.0.113.1 and stays reachable).
lab_exec inet nft -f - <<'NFT' || fail "nft"
table bridge floe_cut {
	chain f_fwd { type filter hook forward priority -20; ether type ip ip saddr { 203.0.113.10, 203.0.113.20 } ip daddr { 203.0.113.10, 203.0.113.20 } drop; }
}
NFT
observe direct "$t_cut" $((DIRECT_LOST_RESUME_S + 3))
pinger_stop
within "direct path lost" "$RESUMED" "$DIRECT_LOST_RESUME_S"
ct=$(path_type client) gt=$(path_type gateway)
lab_floe_relayed "$tmp" "$bin" || fail "direct path lost: traffic resumed on $ct/$gt, not the relay"
reason=$(relay_reason)
echo "ok: direct path lost: traffic again $RESUMED s later on the relay ($ct/$gt${reason:+, relay_reason: $reason})"
lab_exec inet nft delete table bridge floe_cut
site_down
}

for part in roam addr coturn direct; do
	want "$part" && "part_$part"
done

# --- Nothing left behind.
lab_floe_test_end
