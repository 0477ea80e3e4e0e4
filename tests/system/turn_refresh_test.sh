#!/usr/bin/env bash
# TURN credentials re-issued before they expire (issue #6, docs/nat.md
# "TURN credentials"), with the real daemons in the network lab
# (scripts/lib/netlab.sh): coturn with use-auth-secret, the portal minting
# credentials from the same secret with a TTL of TTL_S, a client and a
# gateway behind symmetric NATs, so their connection is relayed.
#
# 1. The relayed connection carries a ping every 0.2 s for PING_S (more
#    than twice the TTL): the allocation, made with a credential that has
#    long expired by the end, keeps working (coturn checks the expiry at
#    Allocate only; tests/daemons/turn_refresh_test.c): no gap in the
#    replies over MAX_GAP_S, and the connection is the same one
#    throughout. The client was re-welcomed with fresh credentials every
#    ~TTL/2.
# 2. Then the client's NAT drops its UDP to coturn (3478 and the relay
#    ports) until the client's liveness fails the connection (the portal's
#    TCP link stays up), and lets it through again: the replacement's new
#    ICE agent can only allocate with a credential minted after the first
#    had expired, and traffic resumes within RESUME_S of the cut, relayed
#    again.
# Environment: FLOE_NAT_LAB (namespace prefix, default turnr<pid>).
set -uo pipefail

src=${FLOE_SOURCE_DIR:-$(cd "${0%/*}/../.." && pwd)}
bin=${FLOE_BINARY_DIR:-$src/build}

TTL_S=12
PING_S=26
PING_INTERVAL_S=0.2
# Under the liveness bound (4 s): a lost allocation would show as a longer
# gap and a new connection. Slack for a loaded machine (load 70 seen: 2 s).
MAX_GAP_S=3
RESUME_S=10

# shellcheck source=scripts/lib/netlab.sh
source "$src/scripts/lib/netlab.sh"
lab_floe_test_begin "${FLOE_NAT_LAB:-turnr$$}" "$bin"
tmp=$LAB_TMP
fail() { lab_floe_fail "$@"; }
conn() { lab_floe_show "$tmp" "$bin" "$1" --json | jq -ec '.connections | first // empty'; }
welcomes() { grep -c '"Welcomed by the portal"' "$tmp/client.log"; }
# gap FILE FROM TO: the longest time between ping replies after FROM (s),
# and how long before TO the last one came.
gap() {
	sed -n 's/^\[\([0-9.]*\)\].*icmp_seq.*time=.*/\1/p' "$1" |
		awk -v f="$2" -v t="$3" '$1 >= f { if (p && $1 - p > g) g = $1 - p; p = $1 }
			END { printf "%.2f %.2f", g, p ? t - p : 999 }'
}

# coturn and the portal again, with a shared secret instead of a static user.
lab_floe_stop portal
lab_floe_stop coturn
head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$tmp/turn.secret"
lab_bg inet "$tmp/coturn.log" turnserver -n --listening-ip=203.0.113.1 --relay-ip=203.0.113.1 \
	--pidfile="$tmp/turnserver.pid" --userdb="$tmp/turndb" \
	--listening-port=3478 --min-port=49152 --max-port=49999 \
	--realm=floe --use-auth-secret --static-auth-secret="$(cat "$tmp/turn.secret")" --fingerprint \
	--no-tls --no-dtls --no-cli --no-multicast-peers --simple-log --log-file=stdout >/dev/null
LAB_FLOE_PID[coturn]=${LAB_PIDS[-1]}
lab_floe_until 10 sh -c "ip netns exec $(lab_ns inet) ss -Hlun | grep -q 203.0.113.1:3478" || fail "coturn did not come up"
sed -i -e '/^Username = floe$/d' -e "s|^PasswordFile = .*|SecretFile = $tmp/turn.secret\nTTL = $TTL_S|" "$tmp/portal.conf"
grep -q "^TTL = $TTL_S" "$tmp/portal.conf" || fail "portal.conf: no TTL"
lab_floe_start "$tmp" "$bin" portal || fail "portal did not come up"

lab_floe_test_site symmetric symmetric
lab_floe_until 15 lab_exec client ping -c 1 -W 1 10.3.0.2 || fail "no traffic through the tunnel"
lab_floe_relayed "$tmp" "$bin" || fail "the pair is not relayed"
cid=$(conn client | jq -r .cid)
w0=$(welcomes)

# --- 1. Past twice the TTL on one allocation.
t0=$(date +%s.%N)
lab_exec client ping -D -n -i "$PING_INTERVAL_S" -W 1 -w "$PING_S" 10.3.0.2 >"$tmp/long.ping" 2>&1
read -r g last <<<"$(gap "$tmp/long.ping" "$t0" "$(awk -v t="$t0" -v w="$PING_S" 'BEGIN { printf "%.3f", t + w }')")"
awk -v g="$g" -v m="$MAX_GAP_S" -v l="$last" 'BEGIN { exit !(g <= m && l <= m) }' ||
	fail "relayed pings over $PING_S s: longest gap $g s, last reply $last s before the end (limit $MAX_GAP_S)"
lost=$(sed -n 's/.* \([0-9.]*\)% packet loss.*/\1/p' "$tmp/long.ping")
[[ $(conn client | jq -r .cid) == "$cid" ]] || fail "the connection was replaced during the pings"
w1=$(welcomes)
# Re-issues at TTL/2 - TTL/10 .. TTL/2: at least PING_S / (TTL/2) of them.
((w1 - w0 >= PING_S * 2 / TTL_S)) || fail "$((w1 - w0)) re-welcomes in $PING_S s (TTL $TTL_S s)"
echo "ok: relayed connection for $PING_S s with a $TTL_S s TTL: one connection ($cid), longest gap $g s, ${lost:-?}% loss, $((w1 - w0)) credential re-issues"

# --- 2. A new connection now needs a credential minted after the first expired.
flows0=$(grep -c '"Authorizing flow"' "$tmp/portal.log")
t1=$(date +%s.%N)
lab_exec client ping -D -n -i "$PING_INTERVAL_S" -W 1 -w "$((RESUME_S + 3))" 10.3.0.2 >"$tmp/new.ping" 2>&1 &
pinger=$!
sleep 1
lab_exec c-nat nft -f - <<'NFT' || fail "nft"
table inet h24_cut {
	chain h24cut { type filter hook forward priority -10; ip daddr 203.0.113.1 meta l4proto udp drop; }
}
NFT
silent="\"peer silent"
lab_floe_until $RESUME_S sh -c "grep -q '$silent' $tmp/client.log"
lab_exec c-nat nft delete table inet h24_cut || fail "nft delete"
wait "$pinger"
# The end of the longest gap after the cut (t1 + 1 s), from the cut.
first=$(sed -n 's/^\[\([0-9.]*\)\].*icmp_seq.*time=.*/\1/p' "$tmp/new.ping" |
	awk -v t="$t1" '$1 >= t + 0.8 { if (p && $1 - p > g) { g = $1 - p; r = $1 - t - 1 } p = $1 }
		END { if (p) printf "%.2f", r }')
[[ -n $first ]] || fail "no traffic within $RESUME_S s after the cut"
awk -v f="$first" -v r="$RESUME_S" 'BEGIN { exit !(f <= r) }' || fail "traffic again only after $first s"
cid2=$(conn client | jq -r .cid)
flows1=$(grep -c '"Authorizing flow"' "$tmp/portal.log")
((flows1 > flows0)) && [[ $cid2 != "$cid" ]] || fail "no replacement connection (flows $flows0 -> $flows1)"
lab_floe_relayed "$tmp" "$bin" || fail "the replacement is not relayed"
echo "ok: replacement after the relayed path was cut: relayed again with a fresh credential, traffic $first s after the cut ($cid2)"

lab_floe_test_site_down
lab_floe_test_end
