#!/usr/bin/env bash
# Idle behaviour (issue #6, docs/nat.md "Idle behaviour"), with the real
# daemons in the network lab (scripts/lib/netlab.sh): a client and a gateway
# each behind a port-restricted-cone NAT (eim-apdf) whose UDP conntrack
# timeouts are 20 s, unreplied and replied alike (Linux's defaults: 30 s and
# 120 s). The pair connects on a direct path, carries a ping, then sits idle
# for IDLE_S (more than two NAT timeouts; the connection turns idle after
# 30 s). Meanwhile the tunnel's conntrack entry in both NATs is sampled every
# 0.5 s: it must never lapse (the client's 15 s WireGuard keepalive and
# libnice's 25 s binding indications keep it; with the indications alone it
# would lapse for up to 5 s in every 25). Then a ping gets its first reply
# within 1 s on the same connection: no new flow from the portal, no new
# handshake, still direct. Environment: FLOE_NAT_LAB (namespace prefix,
# default nati<pid>).
set -uo pipefail

src=${FLOE_SOURCE_DIR:-$(cd "${0%/*}/../.." && pwd)}
bin=${FLOE_BINARY_DIR:-$src/build}

NAT_UDP_TIMEOUT_S=20
IDLE_S=48
SAMPLE_S=0.5

# shellcheck source=scripts/lib/netlab.sh
source "$src/scripts/lib/netlab.sh"
lab_floe_test_begin "${FLOE_NAT_LAB:-nati$$}" "$bin"
tmp=$LAB_TMP
fail() { lab_floe_fail "$@"; }

# conn WHO: the one connection of WHO, whatever its state (JSON).
conn() { lab_floe_show "$tmp" "$bin" "$1" --json | jq -ec '.connections | first // empty'; }
counter() { lab_floe_show "$tmp" "$bin" "$1" --json | jq -er ".totals.$2"; }
# tracked NAT A B: 0 when NAT's conntrack table holds a UDP entry between
# addresses A and B (either direction, before or after translation).
tracked() {
	lab_exec "$1" cat /proc/net/nf_conntrack 2>/dev/null |
		awk -v a="$2" -v b="$3" '$3 == "udp" && index($0, "=" a " ") && index($0, "=" b " ") { f = 1 } END { exit !f }'
}

lab_floe_test_site eim-apdf eim-apdf
for n in c-nat g-nat; do
	lab_exec "$n" sysctl -qw net.netfilter.nf_conntrack_udp_timeout=$NAT_UDP_TIMEOUT_S \
		net.netfilter.nf_conntrack_udp_timeout_stream=$NAT_UDP_TIMEOUT_S || fail "sysctl in $n"
done
lab_floe_until 15 lab_exec client ping -c 1 -W 1 10.3.0.2 || fail "no traffic through the tunnel"
c0=$(conn client) || fail "no client connection"
[[ $(jq -r '.path.type' <<<"$c0") == host || $(jq -r '.path.type' <<<"$c0") == srflx ||
	$(jq -r '.path.type' <<<"$c0") == prflx ]] || fail "not a direct path: $(jq -c .path <<<"$c0")"
cid=$(jq -r .cid <<<"$c0")
flows0=$(grep -c '"Authorizing flow"' "$tmp/portal.log")
init0=$(counter client handshake_initiations_sent) || fail "floectl show --json (client)"
tracked c-nat 10.1.0.2 203.0.113.20 || fail "no conntrack entry of the tunnel in the client's NAT"
# The short timeout is in force: an entry never has more than 20 s left.
left=$(lab_exec c-nat cat /proc/net/nf_conntrack | awk '$3 == "udp" { print $5 }' | sort -n | tail -1)
((left <= NAT_UDP_TIMEOUT_S)) || fail "a UDP conntrack entry with $left s left (timeout not in force)"

# Idle: sample both NATs' entries of the tunnel.
end=$((SECONDS + IDLE_S))
samples=0 lapses=0 idle_seen=0
while ((SECONDS < end)); do
	samples=$((samples + 1))
	tracked c-nat 10.1.0.2 203.0.113.20 || { lapses=$((lapses + 1)); echo "client NAT: entry gone at $((IDLE_S - end + SECONDS)) s"; }
	tracked g-nat 203.0.113.10 10.2.0.2 || { lapses=$((lapses + 1)); echo "gateway NAT: entry gone at $((IDLE_S - end + SECONDS)) s"; }
	if ((idle_seen == 0 && samples % 10 == 0)); then
		[[ $(conn client | jq -r .state) == idle ]] && idle_seen=$SECONDS
	fi
	sleep "$SAMPLE_S"
done
((idle_seen)) || fail "the client's connection never showed state idle in $IDLE_S s"
((lapses == 0)) || fail "the tunnel's NAT binding lapsed in $lapses of $samples samples"

t0=$(date +%s.%N)
lab_exec client ping -c 1 -W 1 10.3.0.2 >/dev/null || fail "no reply within 1 s to the first ping after $IDLE_S s idle"
ms=$(awk -v t="$t0" -v n="$(date +%s.%N)" 'BEGIN { printf "%d", (n - t) * 1000 }')
c1=$(conn client) || fail "no client connection after idle"
[[ $(jq -r .cid <<<"$c1") == "$cid" ]] || fail "the connection was replaced ($cid -> $(jq -r .cid <<<"$c1"))"
[[ $(jq -r .state <<<"$c1") == connected ]] || fail "state $(jq -r .state <<<"$c1") after traffic"
flows1=$(grep -c '"Authorizing flow"' "$tmp/portal.log")
((flows1 == flows0)) || fail "$((flows1 - flows0)) new flows during idle"
init1=$(counter client handshake_initiations_sent)
((init1 == init0)) || fail "$((init1 - init0)) handshake initiations during idle (rekey is at 120 s)"
gw_init=$(counter gateway handshake_initiations_sent)
((gw_init == 0)) || fail "the gateway sent $gw_init handshake initiations"
echo "ok: idle ${IDLE_S} s behind two NATs with ${NAT_UDP_TIMEOUT_S} s UDP timeouts: binding held in $samples of $samples samples per NAT, state idle after ~$((idle_seen - end + IDLE_S)) s, first ping after idle answered in $ms ms on the same connection ($cid, $(jq -r .path.type <<<"$c1")), no new flow, no new handshake"

lab_floe_test_site_down
lab_floe_test_end
