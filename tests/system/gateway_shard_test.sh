#!/usr/bin/env bash
# The sharded gateway (issue #7, docs/perf.md "10,000 connections"): a
# portal, floe-gateway with [Gateway] Workers = 3 and six floe-client
# processes (keys made on the fly), each in its own namespace on one
# bridge, and a resource behind the gateway. Checks:
#   - the clients spread over >= 2 workers (floectl show --json, "worker"),
#     each client's flow sits on the worker the portal's placement names,
#     and each client's tunnel IP routes (a /32) to its worker's TUN;
#   - every client pings the resource;
#   - `floectl show` (text and JSON) is one gateway: all six connections,
#     totals equal to the sum of the workers' own totals, and so are the
#     parent's metrics;
#   - kill -9 of one worker: it is restarted (new pid), its clients ping
#     again within WORKER_RECOVERY_S, and the other workers' clients, pinging
#     all along, lose nothing;
#   - systemd hears READY=1 once, from the parent, and STOPPING=1 at the end;
#   - SIGTERM to the parent: exit 0, no gateway process, TUN or host route
#     left; kill -9 of the parent: its workers stop too; then nothing of the
#     lab is left behind.
# Bad [Gateway] Workers values are refused with FILE:LINE before any of it.
set -uo pipefail

src=${FLOE_SOURCE_DIR:-$(cd "${0%/*}/../.." && pwd)}
bin=${FLOE_BINARY_DIR:-$src/build}
N_CLIENTS=6
WORKERS=3
WORKER_RECOVERY_S=20 # kill -9 to the first reply through the restarted worker
CONNECT_S=20         # a client's first ping may wait for ICE and the handshake

for p in floe-portal floe-gateway floe-client floectl; do
	[[ -x $bin/$p ]] || { echo "FAIL: $bin/$p not built"; exit 1; }
done

# --- Bad Workers values: one line FILE:LINE: message, exit 1 (no root needed).
tmp0=$(mktemp -d /tmp/h21shard-conf.XXXXXX)
key=$("$bin/floectl" genkey)
for bad in 0 -1 65 lots 99999999999; do
	printf '[Interface]\nPrivateKey = %s\n[Gateway]\nWorkers = %s\n' "$key" "$bad" >"$tmp0/bad.conf"
	err=$("$bin/floe-gateway" --config "$tmp0/bad.conf" 2>&1 >/dev/null)
	rc=$?
	[[ $rc == 1 && $err == "$tmp0/bad.conf:4: Workers: '$bad' is not a number in 1-64" ]] || {
		echo "FAIL: Workers = $bad: exit $rc, '$err'"
		rm -rf "$tmp0"
		exit 1
	}
done
rm -rf "$tmp0"
echo "ok: Workers = 0, -1, 65, lots, 99999999999 refused with FILE:LINE"

if [[ $(id -u) -ne 0 ]]; then
	echo "SKIP: the sharded gateway checks need root (network namespaces)"
	exit 77
fi
for t in ping jq ip python3; do
	command -v "$t" >/dev/null || { echo "SKIP: $t not installed (scripts/deps)"; exit 77; }
done

# shellcheck source=scripts/lib/netlab.sh
source "$src/scripts/lib/netlab.sh"
tmp=$(mktemp -d /tmp/h21shard.XXXXXX)
lab_init "h21sh$$"
before=$(lab_snapshot "$tmp")
cleanup() {
	local p
	for p in $(lab_procs); do
		[[ $(cat "/proc/$p/comm" 2>/dev/null) == floe-* ]] && kill -TERM "$p" 2>/dev/null
	done
	sleep 0.5
	lab_down
	wait 2>/dev/null
	rm -rf "$tmp"
}
lab_auto_down cleanup
export FLOE_LOG=info

fail() {
	local f
	echo "FAIL: $*"
	for f in "$tmp"/portal.log "$tmp"/gateway.log "$tmp"/c1.log "$tmp"/notify.err; do
		[[ -f $f ]] && { echo "--- ${f##*/}"; grep -v '"severity":"DEBUG"' "$f" | tail -n 15; }
	done
	exit 1
}

# --- The lab: the internet's bridge, the gateway and the clients on it.
lab_internet
lab_add_ns gateway
lab_attach_internet gateway 203.0.113.20
lab_floe_res
for ((i = 1; i <= N_CLIENTS; i++)); do
	lab_add_ns "c$i"
	lab_attach_internet "c$i" "203.0.113.$((30 + i))"
done

# --- Keys and configurations.
(
	umask 077
	for n in portal gateway $(seq -f 'c%g' 1 "$N_CLIENTS"); do
		"$bin/floectl" genkey >"$tmp/$n.key" && "$bin/floectl" pubkey <"$tmp/$n.key" >"$tmp/$n.pub" || exit 1
	done
) || fail "keys"
# The portal's placement as documented (docs/portal.md): FNV-1a of the
# base64 key, mod K. Keys are drawn until the clients span >= 2 workers
# (all six on one worker would otherwise happen 1 run in 243).
place() { # PUBKEY...: the worker of each
	python3 -I -S -c '
import sys
k = int(sys.argv[1])
for key in sys.argv[2:]:
    h = 0xcbf29ce484222325
    for c in key.encode():
        h = ((h ^ c) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    print(h % k)' "$WORKERS" "$@"
}
for ((try = 0; try < 20; try++)); do
	mapfile -t predicted < <(place $(for ((i = 1; i <= N_CLIENTS; i++)); do cat "$tmp/c$i.pub"; done))
	((${#predicted[@]} == N_CLIENTS)) || fail "placement helper failed"
	(($(printf '%s\n' "${predicted[@]}" | sort -u | wc -l) >= 2)) && break
	(umask 077 && "$bin/floectl" genkey >"$tmp/c$N_CLIENTS.key" &&
		"$bin/floectl" pubkey <"$tmp/c$N_CLIENTS.key" >"$tmp/c$N_CLIENTS.pub") || fail "keys"
done
{
	printf '[Portal]\nListenAddress = tcp://203.0.113.1:7400\nPrivateKeyFile = %s\n\n' "$tmp/portal.key"
	printf '[Resource lan]\nCIDR = 10.3.0.0/24\n\n'
	printf '[Gateway gw]\nPublicKey = %s\nResources = lan\nTunnelIPv4 = 100.64.255.1\n\n' "$(cat "$tmp/gateway.pub")"
	for ((i = 1; i <= N_CLIENTS; i++)); do
		printf '[Client c%d]\nPublicKey = %s\nTunnelIPv4 = 100.64.0.%d\n\n' "$i" "$(cat "$tmp/c$i.pub")" $((10 + i))
		printf '[Grant c%d-lan]\nClient = c%d\nResource = lan\n\n' "$i" "$i"
	done
} >"$tmp/portal.conf"
node_conf() { # NAME IP INTERFACE-LINES EXTRA
	printf '[Interface]\nPrivateKeyFile = %s\n%b\n' "$tmp/$1.key" "$3"
	printf '[Portal]\nEndpoint = tcp://203.0.113.1:7400\nPublicKey = %s\n' "$(cat "$tmp/portal.pub")"
	printf '[ICE]\nLocalAddress = %s\n[Control]\nSocket = %s\n%b' "$2" "$tmp/$1.sock" "${4:-}"
}
node_conf gateway 203.0.113.20 'Name = floe-gw0\nAddress = 100.64.255.1/32\nRoute = 100.64.0.0/10' \
	"[Gateway]\nWorkers = $WORKERS\n[Metrics]\nListen = 127.0.0.1:9100\n" >"$tmp/gateway.conf"
for ((i = 1; i <= N_CLIENTS; i++)); do
	node_conf "c$i" "203.0.113.$((30 + i))" 'Name = floe0' >"$tmp/c$i.conf"
done

until_ok() { lab_floe_until "$@"; } # SECONDS CMD...: polls CMD every 0.1 s (netlab)
show() { lab_exec gateway "$bin/floectl" show --socket "$tmp/gateway.sock" "$@"; }
gw_pids() { # the gateway's processes in its namespace: parent and workers
	local p
	for p in $(ip netns pids "$(lab_ns gateway)"); do
		[[ $(cat "/proc/$p/comm" 2>/dev/null) == floe-gateway ]] && echo "$p"
	done
}
worker_pid() { # K: worker K's pid
	local p
	for p in $(gw_pids); do
		tr '\0' ' ' <"/proc/$p/cmdline" | grep -q -- "--worker $1 " && echo "$p"
	done
}

lab_bg inet "$tmp/portal.log" "$bin/floe-portal" --config "$tmp/portal.conf" >/dev/null
until_ok 10 sh -c "ip netns exec $(lab_ns inet) ss -Hltn | grep -q 203.0.113.1:7400" || fail "portal did not listen"
# sd_notify: a datagram socket that records "PID MESSAGE" per notification.
lab_bg inet "$tmp/notify.err" python3 -c '
import socket, struct, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
s.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
while True:
    data, anc, _, _ = s.recvmsg(4096, socket.CMSG_SPACE(12))
    pid = next((struct.unpack("iII", d)[0] for l, t, d in anc if t == socket.SCM_CREDENTIALS), 0)
    with open(sys.argv[2], "a") as f:
        f.write("%d %s\n" % (pid, data.decode().strip().replace("\n", " ")))
' "$tmp/notify.sock" "$tmp/notify.log" >/dev/null
until_ok 30 test -S "$tmp/notify.sock" || fail "no notify socket (python3 starts slowly on a loaded machine)"
lab_bg gateway "$tmp/gateway.log" env NOTIFY_SOCKET="$tmp/notify.sock" "$bin/floe-gateway" --config "$tmp/gateway.conf" >/dev/null
gw_shell=${LAB_PIDS[-1]}
until_ok 30 show || fail "the gateway's control socket did not answer"
((WORKERS == $(grep -c '"Welcomed by the portal"' "$tmp/gateway.log"))) || until_ok 10 sh -c \
	"[ \$(grep -c '\"Welcomed by the portal\"' $tmp/gateway.log) -ge $WORKERS ]" || fail "not every worker was welcomed"
for ((k = 0; k < WORKERS; k++)); do
	lab_exec gateway ip link show "floe-gw$k" >/dev/null 2>&1 || fail "no TUN floe-gw$k"
	[[ -n $(worker_pid "$k") ]] || fail "no worker $k process"
done
parent=$(for p in $(gw_pids); do tr '\0' ' ' <"/proc/$p/cmdline" | grep -q -- --worker || echo "$p"; done)
[[ -n $parent ]] || fail "no parent process"
until_ok 5 grep -q READY=1 "$tmp/notify.log" || fail "no READY=1"
[[ $(grep -c READY=1 "$tmp/notify.log") == 1 && $(grep READY=1 "$tmp/notify.log") == "$parent READY=1" ]] ||
	fail "READY=1 not once from the parent $parent: $(cat "$tmp/notify.log")"
echo "ok: floe-gateway with Workers = $WORKERS: READY=1 once, from the parent $parent; workers $(for k in $(seq 0 $((WORKERS - 1))); do worker_pid "$k"; done | tr '\n' ' ')with TUNs floe-gw0..floe-gw$((WORKERS - 1)), all welcomed"

for ((i = 1; i <= N_CLIENTS; i++)); do
	lab_bg "c$i" "$tmp/c$i.log" "$bin/floe-client" --config "$tmp/c$i.conf" >/dev/null
done
for ((i = 1; i <= N_CLIENTS; i++)); do
	until_ok 10 grep -q '"Welcomed by the portal"' "$tmp/c$i.log" || fail "c$i not welcomed"
done
for ((i = 1; i <= N_CLIENTS; i++)); do
	until_ok "$CONNECT_S" lab_exec "c$i" ping -c 1 -W 1 10.3.0.2 || fail "c$i: no ping through the tunnel"
done
echo "ok: $N_CLIENTS clients ping the resource 10.3.0.2 through the sharded gateway"

# --- One gateway in floectl show, connections spread over the workers.
json=$(show --json) || fail "floectl show --json"
n=$(jq '[.connections[] | select(.state == "connected")] | length' <<<"$json")
((n == N_CLIENTS)) || fail "show lists $n connected connections, expected $N_CLIENTS"
[[ $(jq -r .role <<<"$json") == gateway && $(jq -r .public_key <<<"$json") == "$(cat "$tmp/gateway.pub")" ]] ||
	fail "show is not the one gateway: $(jq -c '{role, public_key}' <<<"$json")"
jq -e --argjson k "$WORKERS" --argjson n "$N_CLIENTS" '(.workers | length) == $k and all(.workers[]; .up) and
	([.workers[].connections] | add) == $n' <<<"$json" >/dev/null || fail "show's workers: $(jq -c .workers <<<"$json")"
spread=$(jq '[.connections[].worker] | unique | length' <<<"$json")
((spread >= 2)) || fail "all clients on one worker: $(jq -c '[.connections[].worker]' <<<"$json")"
declare -A worker_of
for ((i = 1; i <= N_CLIENTS; i++)); do
	w=$(jq -er --arg ip "100.64.0.$((10 + i))" '.connections[] | select(.tunnel_ipv4 == $ip) | .worker' <<<"$json") ||
		fail "c$i not in show"
	worker_of[$i]=$w
	[[ $w == "${predicted[$((i - 1))]}" ]] || fail "c$i on worker $w, FNV-1a(key) mod $WORKERS says ${predicted[$((i - 1))]}"
	route=$(lab_exec gateway ip -4 route show "100.64.0.$((10 + i))/32")
	[[ $route == *"dev floe-gw$w "* ]] || fail "c$i (worker $w): host route is '$route'"
done
# The portal logs where it placed each flow; the connection is on that worker.
for ((i = 1; i <= N_CLIENTS; i++)); do
	placed=$(grep '"Authorizing flow"' "$tmp/portal.log" | jq -r "select(.client_id == \"c$i\") | .worker" | tail -n 1)
	[[ $placed == "${worker_of[$i]}" ]] || fail "c$i: portal placed it on worker '$placed', it runs on ${worker_of[$i]}"
done
text=$(show) || fail "floectl show"
[[ $(grep -c '^connection: ' <<<"$text") == "$N_CLIENTS" && $(grep -c '^node: gateway' <<<"$text") == 1 &&
	$(grep -c '^  worker: ' <<<"$text") == "$N_CLIENTS" && $text == *"  workers: $WORKERS, answering: 0 1 2"* ]] || fail "floectl show (text) is not one gateway with $N_CLIENTS connections"
echo "ok: floectl show: one gateway, $N_CLIENTS connections on $spread workers ($(for i in $(seq 1 $N_CLIENTS); do printf 'c%d:%s ' "$i" "${worker_of[$i]}"; done)), each on the worker the portal placed it on (= FNV-1a(key) mod $WORKERS), host routes to that worker's TUN"

# Totals: the sum of the workers' own totals (counted while nothing flows;
# a keepalive in between changes one side: retry).
sum_ok() {
	local all=0 one k
	for c in rx_packets tx_packets tun_rx_packets tun_tx_packets; do
		all=$(show --json | jq -r ".totals.$c")
		one=0
		for ((k = 0; k < WORKERS; k++)); do
			one=$((one + $(lab_exec gateway "$bin/floectl" show --json --socket "$tmp/gateway.sock.w$k" | jq -r ".totals.$c")))
		done
		[[ $all == "$one" && $all -gt 0 ]] || return 1
	done
}
until_ok 10 sum_ok || fail "totals differ from the workers' sum"
echo "ok: totals (rx/tx packets, TUN rx/tx packets) = the sum of the $WORKERS workers' totals"

# The parent's metrics are the same one gateway.
metrics_ok() {
	local m want
	m=$(lab_exec gateway timeout 5 bash -c 'exec 3<>/dev/tcp/127.0.0.1/9100 &&
		printf "GET /metrics HTTP/1.0\r\n\r\n" >&3 && cat <&3') || return 1
	want=$(show --json | jq -r .totals.rx_packets)
	grep -qx "floe_connections $N_CLIENTS" <<<"$m" && grep -qx "floe_node_rx_packets $want" <<<"$m" &&
		[[ $(grep -c '^floe_worker_connections{worker="[0-9]*"} ' <<<"$m") == "$WORKERS" &&
			$(awk '/^floe_worker_connections\{/ { n += $2 } END { print n }' <<<"$m") == "$N_CLIENTS" ]]
}
until_ok 10 metrics_ok || fail "metrics are not the one gateway's"
echo "ok: the parent's metrics: floe_connections $N_CLIENTS, floe_node_rx_packets = show's total, floe_worker_connections for each of the $WORKERS workers, summing to $N_CLIENTS"

# --- kill -9 one worker; the others' clients keep pinging throughout.
victim=${worker_of[1]}
others=()
for ((i = 1; i <= N_CLIENTS; i++)); do
	[[ ${worker_of[$i]} != "$victim" ]] && others+=("$i")
done
((${#others[@]} > 0)) || fail "no client on another worker than $victim"
bgp=()
for i in "${others[@]}"; do
	lab_bg "c$i" "$tmp/ping-c$i.log" ping -i 0.2 -W 1 -w $((WORKER_RECOVERY_S + 5)) 10.3.0.2 >/dev/null
	bgp+=("${LAB_PIDS[-1]}")
done
sleep 1
old=$(worker_pid "$victim")
kill -KILL "$old"
t0=$SECONDS
until_ok 10 sh -c "p=\$(pgrep -f -- '--config $tmp/gateway.conf --worker $victim\$'); [ -n \"\$p\" ] && [ \"\$p\" != $old ]" ||
	fail "worker $victim was not restarted"
new=$(worker_pid "$victim")
for ((i = 1; i <= N_CLIENTS; i++)); do
	[[ ${worker_of[$i]} == "$victim" ]] || continue
	until_ok $((WORKER_RECOVERY_S - (SECONDS - t0))) lab_exec "c$i" ping -c 1 -W 1 10.3.0.2 ||
		fail "c$i (worker $victim) did not ping again within ${WORKER_RECOVERY_S}s of the kill"
done
recovered=$((SECONDS - t0))
for p in "${bgp[@]}"; do
	wait "$p" 2>/dev/null
done
for i in "${others[@]}"; do
	line=$(grep 'packets transmitted' "$tmp/ping-c$i.log")
	sent=$(awk '{print $1}' <<<"$line")
	got=$(awk '{print $4}' <<<"$line")
	((sent > 10 && got == sent)) || fail "c$i (worker ${worker_of[$i]}) lost pings while worker $victim restarted: $line"
done
json=$(show --json)
n=$(jq '[.connections[] | select(.state == "connected")] | length' <<<"$json")
((n == N_CLIENTS)) || until_ok 10 sh -c "[ \$(ip netns exec $(lab_ns gateway) $bin/floectl show --json --socket $tmp/gateway.sock | jq '[.connections[] | select(.state == \"connected\")] | length') -eq $N_CLIENTS ]" ||
	fail "after the restart show lists $n connected connections"
echo "ok: kill -9 of worker $victim (pid $old): restarted as pid $new, its clients ping again within ${recovered}s (bound ${WORKER_RECOVERY_S}s); clients ${others[*]} on the other workers lost no ping; show lists all $N_CLIENTS again"

# --- SIGTERM to the parent: every worker stops, TUNs and host routes go.
kill -TERM "$parent"
until_ok 15 sh -c "! kill -0 $parent 2>/dev/null" || fail "the parent did not stop within 15 s"
wait "$gw_shell"
rc=$?
((rc == 0)) || fail "the gateway exited $rc after SIGTERM"
grep -qx "$parent STOPPING=1" "$tmp/notify.log" || fail "no STOPPING=1 from the parent: $(cat "$tmp/notify.log")"
[[ $(grep -c . "$tmp/notify.log") == 2 ]] || fail "the workers notified systemd: $(cat "$tmp/notify.log")"
[[ -z $(gw_pids) ]] || fail "gateway processes left: $(gw_pids)"
until_ok 5 sh -c "! ip -n $(lab_ns gateway) link | grep -q floe-gw" || fail "TUN left: $(lab_exec gateway ip -br link | grep floe-gw)"
left=$(lab_exec gateway ip -4 route show | grep '^100\.64\.' || true)
[[ -z $left ]] || fail "routes left: $left"
[[ ! -e $tmp/gateway.sock && ! -e $tmp/gateway.sock.w0 ]] || fail "control sockets left"
echo "ok: SIGTERM to the parent: exit 0, STOPPING=1 (nothing from the workers), no gateway process, TUN, host route or control socket left"

# --- kill -9 of the parent: the workers follow it (PR_SET_PDEATHSIG).
lab_bg gateway "$tmp/gateway2.log" "$bin/floe-gateway" --config "$tmp/gateway.conf" >/dev/null
until_ok 30 sh -c "[ \$(grep -c '\"Welcomed by the portal\"' $tmp/gateway2.log) -ge $WORKERS ]" || fail "the gateway did not come back"
parent=$(for p in $(gw_pids); do tr '\0' ' ' <"/proc/$p/cmdline" | grep -q -- --worker || echo "$p"; done)
[[ -n $parent ]] || fail "no parent process the second time"
kill -KILL "$parent"
until_ok 15 sh -c "[ -z \"\$(ip netns pids $(lab_ns gateway) | xargs -r -I{} cat /proc/{}/comm 2>/dev/null | grep floe-gateway)\" ]" ||
	fail "workers outlived their parent: $(gw_pids)"
until_ok 5 sh -c "! ip -n $(lab_ns gateway) link | grep -q floe-gw" || fail "TUN left after the parent's kill -9"
echo "ok: kill -9 of the parent: every worker stopped and its TUN went with it"

lab_auto_down_run
left=$(lab_left_behind "$before" "$tmp") || { echo "FAIL: left behind: $left"; exit 1; }
echo "ok: no namespace, veth, process or file left behind"
