# shellcheck shell=bash
# The floe network lab: network namespaces joined by veth pairs, an
# "internet" with the portal and coturn on it, and hosts behind NATs built
# with nftables. Sourced by scripts/demo, system tests and benchmarks.
#
#   lab_init NAME                  prefix for every namespace / link of this lab
#   lab_internet                   the internet namespace: bridge 203.0.113.1/24
#   lab_nat SITE KIND WAN_IP LAN_NET  a NAT router: SITE-nat, LAN gateway .1
#        KIND: none | eim-eif (full cone) | eim-apdf (port-restricted cone)
#              | symmetric (endpoint-dependent mapping, random ports)
#   lab_host SITE HOST IP          a host on SITE's LAN (default route via the NAT)
#   lab_exec NS cmd...             run in a namespace of this lab
#   lab_del_ns NS                  remove one namespace (and what runs in it)
#   lab_nat_down SITE              remove SITE's router (and the internet's
#                                  route to a "none" LAN)
#   lab_nat_set SITE KIND WAN_IP LAN_NET  change a NAT's kind and/or public
#                                  address in place (roaming: a new mapping)
#   lab_conntrack_flush NS         forget NS's connections and NAT mappings
#   lab_loss PERCENT [NS]          random loss of UDP datagrams crossing the
#                                  internet (0 removes it); no sch_netem here.
#                                  NS: another bridging namespace instead,
#                                  e.g. a router's LAN (g-nat: same LAN)
#   lab_loss_drops [NS]            how many datagrams it has dropped
#   lab_down                       remove everything this lab created
#   lab_auto_down [HOOK]           lab_down (after HOOK) on exit and signals
#   lab_snapshot [DIR], lab_left_behind BEFORE [DIR], lab_procs,
#   lab_gone PID...                check that it did
#
# Addresses: the internet is TEST-NET-3 (203.0.113.0/24), never routed
# anywhere else; every LAN lives only inside these namespaces. Nothing here
# touches the host's own namespace except the veth pairs it creates and
# removes. Multicast (libnice's UPnP/SSDP) cannot leave: the namespaces have
# no route out.

LAB=${LAB:-floe}
LAB_NETNS=()
LAB_PIDS=()
# lab_link's temporary veth names start with this: the process's own pid,
# so that labs built at once by a shell's background subshells (which all
# share $$) cannot pick the same name.
LAB_LINK_TAG=fl$$

lab_ns() { echo "${LAB}-$1"; }

lab_init() {
	LAB=$1
	LAB_NETNS=()
	LAB_PIDS=()
	LAB_LINK_TAG=fl$BASHPID
}

lab_exec() {
	local ns; ns=$(lab_ns "$1"); shift
	ip netns exec "$ns" "$@"
}

lab_del_ns() {
	local ns; ns=$(lab_ns "$1")
	local keep=() n
	ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null || true
	ip netns del "$ns" 2>/dev/null || true
	for n in "${LAB_NETNS[@]}"; do
		[[ $n == "$ns" ]] || keep+=("$n")
	done
	LAB_NETNS=("${keep[@]}")
}

lab_add_ns() {
	local ns; ns=$(lab_ns "$1")
	ip netns del "$ns" 2>/dev/null || true
	ip netns add "$ns"
	LAB_NETNS+=("$ns")
	ip -n "$ns" link set lo up
	ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=0 2>/dev/null || true
}

# lab_link NS_A IF_A NS_B IF_B: a veth pair between two namespaces.
lab_link() {
	local a b; a=$(lab_ns "$1"); b=$(lab_ns "$3")
	local tmp="$LAB_LINK_TAG${RANDOM}"
	ip link add "${tmp}a" type veth peer name "${tmp}b"
	ip link set "${tmp}a" netns "$a"
	ip link set "${tmp}b" netns "$b"
	ip -n "$a" link set "${tmp}a" name "$2"
	ip -n "$b" link set "${tmp}b" name "$4"
	ip -n "$a" link set "$2" up
	ip -n "$b" link set "$4" up
}

lab_internet() {
	lab_add_ns inet
	ip -n "$(lab_ns inet)" link add br0 type bridge
	ip -n "$(lab_ns inet)" addr add 203.0.113.1/24 dev br0
	ip -n "$(lab_ns inet)" link set br0 up
	# It routes between the routers: to the LANs of "none" routers (their
	# hosts have public addresses) and nowhere else.
	lab_exec inet sysctl -qw net.ipv4.ip_forward=1
	# The rest of the internet: a default route into a link nobody answers
	# on. Without it coturn's relay sends to an unroutable peer (a private
	# host candidate) fail with ENETUNREACH, and coturn ends the whole
	# allocation; out there such datagrams are merely lost.
	ip -n "$(lab_ns inet)" link add beyond type veth peer name beyond1
	ip -n "$(lab_ns inet)" link set beyond up
	ip -n "$(lab_ns inet)" link set beyond1 up
	ip -n "$(lab_ns inet)" route add default dev beyond
}

# lab_attach_internet SITE WAN_IP: SITE's router gets WAN_IP on the internet.
lab_attach_internet() {
	local site=$1 wan=$2
	lab_link "$site" wan inet "${site:0:8}-w"
	ip -n "$(lab_ns inet)" link set "${site:0:8}-w" master br0
	ip -n "$(lab_ns "$site")" addr add "$wan/24" dev wan
	ip -n "$(lab_ns "$site")" route add default via 203.0.113.1
}

lab_nat() {
	local site=$1 kind=$2 wan=$3 lan=$4   # lan like 10.1.0.0/24
	local router=${site}-nat
	local lan_gw=${lan%.*/*}.1
	lab_add_ns "$router"
	lab_attach_internet "$router" "$wan"
	ip -n "$(lab_ns "$router")" link add lan type bridge
	ip -n "$(lab_ns "$router")" addr add "$lan_gw/${lan#*/}" dev lan
	ip -n "$(lab_ns "$router")" link set lan up
	lab_exec "$router" sysctl -qw net.ipv4.ip_forward=1
	lab_nat_rules "$router" "$kind" "$wan" "$lan"
}

# A filtering router drops what the outside sends to itself unasked. Were it
# delivered (and answered with port unreachable), its conntrack entry would
# stay and hold the reverse of a mapping: a peer's early check to our srflx
# address would make the host's own outgoing check, a moment later, get a
# new port, and hole punching between two such NATs would fail.
lab_nat_input_drop() {
	echo 'chain inp { type filter hook input priority 0; iifname "wan" ct state new drop; }'
}

# The four NAT behaviours of RFC 4787, in nftables.
lab_nat_rules() {
	local router=$1 kind=$2 wan=$3 lan=$4
	local rules
	case $kind in
	none)
		# A router that routes without translation: the LAN is "public".
		rules="table ip floe_nat {
	chain postr { type nat hook postrouting priority 100; }
}"
		;;
	eim-apdf)
		# Endpoint-independent mapping (port kept where free), address-and-
		# port-dependent filtering: conntrack only lets replies in.
		rules="table ip floe_nat {
	chain postr { type nat hook postrouting priority 100; oifname \"wan\" ip saddr $lan snat to $wan persistent; }
	chain filt { type filter hook forward priority 0; policy drop;
		iifname \"lan\" accept; ct state established,related accept; }
	$(lab_nat_input_drop)
}"
		;;
	eim-eif)
		# Full cone: same mapping, and any outside host may send to a
		# mapped port. The mapping is learnt per LAN host; with one host on
		# the LAN a prerouting DNAT of every unsolicited UDP datagram to it
		# is exactly endpoint-independent filtering.
		rules="table ip floe_nat {
	chain postr { type nat hook postrouting priority 100; oifname \"wan\" ip saddr $lan snat to $wan persistent; }
	chain prer { type nat hook prerouting priority -100; iifname \"wan\" ip daddr $wan meta l4proto udp ct state new dnat to ${lan%.*/*}.2; }
	chain filt { type filter hook forward priority 0; policy accept; }
}"
		;;
	symmetric)
		# Endpoint-dependent mapping: a random source port per destination.
		rules="table ip floe_nat {
	chain postr { type nat hook postrouting priority 100; oifname \"wan\" ip saddr $lan meta l4proto udp snat to $wan:20000-60000 random;
		oifname \"wan\" ip saddr $lan snat to $wan random; }
	chain filt { type filter hook forward priority 0; policy drop;
		iifname \"lan\" accept; ct state established,related accept; }
	$(lab_nat_input_drop)
}"
		;;
	*) echo "netlab: unknown NAT kind '$kind'" >&2; return 1 ;;
	esac
	echo "$rules" | lab_exec "$router" nft -f -
	# "none": the internet routes to the LAN through this router.
	if [[ $kind == none ]]; then
		lab_exec inet ip route add "$lan" via "$wan"
	fi
}

lab_nat_down() {
	local site=$1 lan
	# A "none" router left a route to its LAN on the internet's bridge.
	for lan in $(lab_exec "${site}-nat" ip -4 -o addr show dev lan 2>/dev/null |
		awk '{ print $4 }'); do
		lab_exec inet ip route del "$(lab_cidr_net "$lan")" 2>/dev/null || true
	done
	# The kernel dismantles a deleted namespace later: its veth's other
	# end would hold its name on the internet for a moment. Deleted here,
	# both ends go at once.
	local router=${site}-nat
	ip -n "$(lab_ns inet)" link del "${router:0:8}-w" 2>/dev/null || true
	lab_del_ns "$router"
}

# lab_cidr_net 10.1.0.1/24 -> 10.1.0.0/24 (only /24 and wider on octets).
lab_cidr_net() {
	local ip=${1%/*} len=${1#*/} a b c
	IFS=. read -r a b c _ <<<"$ip"
	case $len in
	8) echo "$a.0.0.0/8" ;; 16) echo "$a.$b.0.0/16" ;;
	24) echo "$a.$b.$c.0/24" ;; *) echo "$1" ;;
	esac
}

lab_nat_set() {
	local site=$1 kind=$2 wan=$3 lan=$4
	local router=${site}-nat old
	old=$(lab_exec "$router" ip -4 -o addr show dev wan | awk '{ print $4 }')
	lab_exec "$router" nft delete table ip floe_nat 2>/dev/null || true
	lab_exec inet ip route del "$lan" 2>/dev/null || true
	if [[ ${old%/*} != "$wan" ]]; then
		# The new address is a secondary one until the old goes: promote
		# it then instead of flushing it (and the default route) along.
		lab_exec "$router" sysctl -qw net.ipv4.conf.wan.promote_secondaries=1
		ip -n "$(lab_ns "$router")" addr add "$wan/24" dev wan
		ip -n "$(lab_ns "$router")" addr del "$old" dev wan
		ip -n "$(lab_ns "$router")" route replace default via 203.0.113.1
	fi
	lab_nat_rules "$router" "$kind" "$wan" "$lan"
}

# lab_conntrack_flush NS: forgets every connection NS's conntrack tracks
# (its NAT mappings included), as conntrack -F would (not installed here):
# one ctnetlink delete request without attributes, acknowledged.
lab_conntrack_flush() {
	lab_exec "$1" python3 -c '
import socket, struct, sys
s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 12)  # NETLINK_NETFILTER
nfgen = struct.pack("=BBH", socket.AF_INET, 0, 0)
# type: subsystem ctnetlink (1) << 8 | IPCTNL_MSG_CT_DELETE (2); REQUEST|ACK
s.send(struct.pack("=IHHII", 16 + len(nfgen), (1 << 8) | 2, 1 | 4, 1, 0) + nfgen)
err = struct.unpack("=i", s.recv(4096)[16:20])[0]
sys.exit(0 if err == 0 else 1)'
}

lab_loss() {
	local pct=$1 ns; ns=$(lab_ns "${2:-inet}")
	ip netns exec "$ns" nft delete table bridge floe_loss 2>/dev/null || true
	((pct > 0)) || return 0
	# The internet is a bridge: routers' datagrams to each other cross its
	# forward hook, those to and from coturn its input and output hooks.
	# A router's LAN bridge the same: host to host (forward), host to and
	# from the router, i.e. the internet (input, output).
	ip netns exec "$ns" nft -f - <<NFT
table bridge floe_loss {
	chain f_fwd { type filter hook forward priority 0; meta l4proto udp numgen random mod 100 < $pct counter drop; }
	chain f_in { type filter hook input priority 0; meta l4proto udp numgen random mod 100 < $pct counter drop; }
	chain f_out { type filter hook output priority 0; meta l4proto udp numgen random mod 100 < $pct counter drop; }
}
NFT
}

# lab_loss_drops: datagrams lab_loss has dropped so far.
lab_loss_drops() {
	lab_exec "${1:-inet}" nft -j list table bridge floe_loss 2>/dev/null |
		jq '[.nftables[].rule? // empty | .expr[] | .counter? // empty | .packets] | add // 0'
}

lab_host() {
	local site=$1 host=$2 ip=$3
	local router=${site}-nat
	lab_add_ns "$host"
	lab_link "$host" eth0 "$router" "${host:0:10}"
	ip -n "$(lab_ns "$router")" link set "${host:0:10}" master lan
	ip -n "$(lab_ns "$host")" addr add "$ip/24" dev eth0
	ip -n "$(lab_ns "$host")" route add default via "${ip%.*}.1"
}

# lab_bg NS LOGFILE cmd...: start a process in a namespace, remember its pid.
lab_bg() {
	local ns=$1 log=$2; shift 2
	lab_exec "$ns" "$@" >"$log" 2>&1 &
	LAB_PIDS+=($!)
	echo $!
}

# Its pid file and (unused) user database go beside LOGFILE, not to
# /var/run and /var/lib/turn where every lab's coturn would share them.
lab_coturn() {   # lab_coturn NS IP USER PASS LOGFILE
	local ns=$1 ip=$2 user=$3 pass=$4 log=$5
	lab_bg "$ns" "$log" turnserver -n --listening-ip="$ip" --relay-ip="$ip" \
		--pidfile="${log%/*}/turnserver.pid" --userdb="${log%/*}/turndb" \
		--listening-port=3478 --min-port=49152 --max-port=49999 \
		--realm=floe --lt-cred-mech --user="$user:$pass" --fingerprint \
		--no-tls --no-dtls --no-cli --no-multicast-peers --simple-log \
		--log-file=stdout >/dev/null
}

# lab_auto_down [HOOK]: on exit, SIGINT or SIGTERM, runs HOOK (e.g. stops
# daemons gently) and then lab_down: a script that fails or is interrupted
# half-way leaves nothing behind. Replaces the caller's EXIT/INT/TERM traps.
lab_auto_down() {
	LAB_DOWN_HOOK=${1:-}
	trap 'lab_auto_down_run' EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
}
lab_auto_down_run() {
	trap - EXIT INT TERM
	[[ -z $LAB_DOWN_HOOK ]] || $LAB_DOWN_HOOK
	lab_down
	wait 2>/dev/null
}

# lab_snapshot [DIR]: what this lab could leave behind, one per line: its
# namespaces, the veths lab_link names fl<pid>... while it moves them, and
# processes with DIR in their arguments. Compare before and after a run.
lab_snapshot() {
	ip netns list | awk '{ print $1 }' | grep "^$LAB-" || true
	ip -o link | awk -F': ' '{ print $2 }' | grep "^$LAB_LINK_TAG" || true
	[[ -z ${1:-} ]] || pgrep -f -- "$1/" | sed 's/^/pid /' || true
}

# lab_left_behind BEFORE [DIR]: after lab_down, waits up to 2 s for
# lab_snapshot to match BEFORE again; else prints what is new, returns 1.
lab_left_behind() {
	local after i
	for ((i = 0; i < 20; i++)); do
		after=$(lab_snapshot "${2:-}")
		[[ $after == "$1" ]] && { [[ -z ${2:-} || ! -e $2 ]] && return 0; }
		sleep 0.1
	done
	diff <(echo "$1") <(echo "$after") | grep '^>' | tr '\n' ' '
	[[ -z ${2:-} || ! -e $2 ]] || echo "$2"
	return 1
}

# lab_procs: every process now running in this lab's namespaces.
lab_procs() {
	local ns
	for ns in "${LAB_NETNS[@]}"; do ip netns pids "$ns" 2>/dev/null; done
}

# lab_gone PID...: waits up to 5 s until each is gone (or a zombie: killed,
# not yet reaped); prints the first survivor and returns 1.
lab_gone() {
	local p i
	for p in "$@"; do
		for ((i = 0; i < 50; i++)); do
			[[ -e /proc/$p/stat && $(awk '{ print $3 }' "/proc/$p/stat" 2>/dev/null) != Z ]] || continue 2
			sleep 0.1
		done
		echo "$p ($(cat "/proc/$p/comm" 2>/dev/null))"
		return 1
	done
}

lab_down() {
	local pid ns
	for pid in "${LAB_PIDS[@]}"; do
		kill "$pid" 2>/dev/null || true
	done
	for pid in "${LAB_PIDS[@]}"; do
		timeout 5 tail --pid="$pid" -f /dev/null 2>/dev/null || kill -9 "$pid" 2>/dev/null || true
	done
	for ns in "${LAB_NETNS[@]}"; do
		# Anything still running in the namespace goes with it.
		ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null || true
		ip netns del "$ns" 2>/dev/null || true
	done
	LAB_NETNS=()
	LAB_PIDS=()
}

# ---------------------------------------------------------------------------
# The floe site of scripts/demo and tests/system/daemons_test.sh:
#
#   internet 203.0.113.0/24: floe-portal :7400, coturn :3478 on .1
#     client NAT (eim-apdf) 203.0.113.10 -- client 10.1.0.2
#     gateway NAT (eim-eif) 203.0.113.20 -- gateway 10.2.0.2 -- resource 10.3.0.2
#   client alice: tunnel IP 100.64.0.2; resource "lan" = 10.3.0.0/24
#
#   lab_floe_net                      the namespaces and links above
#   lab_floe_site CKIND GKIND         the site alone (the internet exists): the
#                                     client behind a CKIND NAT, the gateway
#                                     behind a GKIND NAT, the resource
#   lab_floe_site_same_lan KIND       both behind one KIND NAT (site g): the
#                                     gateway 10.2.0.2, the client 10.2.0.3
#   lab_floe_site_down                removes the site, keeps the internet
#   LAB_FLOE_CLIENT_IP, LAB_FLOE_GATEWAY_IP  the hosts' LAN addresses (set by
#                                     the two above; lab_floe_node_confs writes
#                                     them into the configs' LocalAddress)
#   lab_floe_configs DIR BIN          keys (BIN/floectl) and configs into DIR
#   lab_floe_portal_conf DIR [GRANT]  (re)writes DIR/portal.conf; GRANT: empty =
#                                     alice may use lan forever, "none" = no
#                                     grant, else an RFC 3339 expiry
#   lab_floe_start DIR BIN WHAT       WHAT: coturn|portal|gateway|client|iperf3;
#                                     starts it (log DIR/WHAT.log) and waits up
#                                     to 10 s until it is ready; 1 on timeout
#   lab_floe_stop WHAT                SIGTERM, then waits for it (5 s, then KILL);
#                                     returns its exit status
#   lab_floe_pid WHAT                 the pid of the daemon itself
#   lab_floe_show DIR BIN gateway|client [--json]   floectl show
#   lab_floe_conn DIR BIN gateway|client   its connected connection (JSON)
#   lab_floe_relayed DIR BIN          0 when the client's path runs through coturn
# ---------------------------------------------------------------------------
declare -A LAB_FLOE_PID=()

LAB_FLOE_CLIENT_IP=10.1.0.2
LAB_FLOE_GATEWAY_IP=10.2.0.2

lab_floe_net() {
	lab_internet
	lab_floe_site eim-apdf eim-eif
}

lab_floe_site() {
	lab_nat c "$1" 203.0.113.10 10.1.0.0/24
	lab_host c client 10.1.0.2
	lab_nat g "$2" 203.0.113.20 10.2.0.0/24
	lab_host g gateway 10.2.0.2
	LAB_FLOE_CLIENT_IP=10.1.0.2
	LAB_FLOE_GATEWAY_IP=10.2.0.2
	lab_floe_res
}

# Same LAN: host candidates connect them; eim-eif's DNAT of unsolicited
# datagrams goes to .2, the gateway.
lab_floe_site_same_lan() {
	lab_nat g "$1" 203.0.113.20 10.2.0.0/24
	lab_host g gateway 10.2.0.2
	lab_host g client 10.2.0.3
	LAB_FLOE_CLIENT_IP=10.2.0.3
	LAB_FLOE_GATEWAY_IP=10.2.0.2
	lab_floe_res
}

lab_floe_site_down() {
	local n
	for n in res client gateway; do lab_del_ns "$n"; done
	for n in c g; do lab_nat_down "$n"; done
}

lab_floe_res() {
	# The resource's LAN hangs off the gateway, which forwards for it.
	lab_add_ns res
	lab_link res eth0 gateway lan0
	ip -n "$(lab_ns gateway)" addr add 10.3.0.1/24 dev lan0
	ip -n "$(lab_ns res)" addr add 10.3.0.2/24 dev eth0
	ip -n "$(lab_ns res)" route add default via 10.3.0.1
	lab_exec gateway sysctl -qw net.ipv4.ip_forward=1
	lab_exec gateway sysctl -qw net.ipv4.conf.all.rp_filter=0
}

lab_floe_portal_conf() {
	local dir=$1 grant=${2:-}
	{
		cat <<CONF
[Portal]
ListenAddress = tcp://203.0.113.1:7400
PrivateKeyFile = $dir/portal.key

[Relay coturn]
Host = 203.0.113.1
Port = 3478
Username = floe
PasswordFile = $dir/turn.pass

[Resource lan]
CIDR = 10.3.0.0/24

[Gateway gw]
PublicKey = $(cat "$dir/gateway.pub")
Resources = lan
TunnelIPv4 = 100.64.255.1

[Client alice]
PublicKey = $(cat "$dir/client.pub")
TunnelIPv4 = 100.64.0.2
CONF
		if [[ $grant != none ]]; then
			printf '\n[Grant alice-lan]\nClient = alice\nResource = lan\n'
			[[ -z $grant ]] || printf 'Expires = %s\n' "$grant"
		fi
	} >"$dir/portal.conf.new" && mv "$dir/portal.conf.new" "$dir/portal.conf"
}

lab_floe_node_conf() { # DIR ROLE LOCAL_IP EXTRA_INTERFACE_LINES
	cat <<CONF
[Interface]
PrivateKeyFile = $1/$2.key
$4
[Portal]
Endpoint = tcp://203.0.113.1:7400
PublicKey = $(cat "$1/portal.pub")

[ICE]
STUN = 203.0.113.1:3478
LocalAddress = $3

[Control]
Socket = $1/$2.sock
CONF
}

lab_floe_configs() {
	local dir=$1 bin=$2 n
	(
		umask 077
		for n in portal gateway client; do
			"$bin/floectl" genkey >"$dir/$n.key" && "$bin/floectl" pubkey <"$dir/$n.key" >"$dir/$n.pub" || exit 1
		done
		head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$dir/turn.pass"
	) || return 1
	lab_floe_portal_conf "$dir"
	lab_floe_node_confs "$dir"
}

# lab_floe_node_confs DIR [EXTRA_ICE_LINES]: (re)writes gateway.conf and
# client.conf for LAB_FLOE_GATEWAY_IP / LAB_FLOE_CLIENT_IP.
lab_floe_node_confs() {
	local dir=$1 extra=${2:-}
	lab_floe_node_conf "$dir" gateway "$LAB_FLOE_GATEWAY_IP$extra" \
		$'Name = floe-gw0\nAddress = 100.64.255.1/32\nRoute = 100.64.0.0/10' >"$dir/gateway.conf"
	lab_floe_node_conf "$dir" client "$LAB_FLOE_CLIENT_IP$extra" 'Name = floe0' >"$dir/client.conf"
}

lab_floe_show() {
	local dir=$1 bin=$2 who=$3; shift 3
	lab_exec "$who" "$bin/floectl" show --socket "$dir/$who.sock" "$@"
}

# lab_floe_conn DIR BIN gateway|client: the JSON object of its connected
# connection (floectl show --json); 1 when there is none.
lab_floe_conn() {
	lab_floe_show "$1" "$2" "$3" --json |
		jq -ec '[.connections[] | select(.state == "connected")] | first // empty'
}

# lab_floe_relayed DIR BIN: 0 when the client's path runs through coturn.
# path.type is the local candidate's type only: a pair of two prflx
# candidates can still run through one side's TURN allocation (each side's
# remote address is the other's relay), so the addresses decide: either
# end's local or remote address is coturn's (203.0.113.1).
lab_floe_relayed() {
	local c g
	c=$(lab_floe_conn "$1" "$2" client) && g=$(lab_floe_conn "$1" "$2" gateway) || return 2
	jq -se 'any(.[].path; .type == "relay" or
		any(.local, .remote; startswith("203.0.113.1:")))' <<<"$c$g" >/dev/null
}

# lab_floe_until SECONDS CMD...: polls CMD every 0.1 s.
lab_floe_until() {
	local end=$((SECONDS + $1)); shift
	while ((SECONDS < end)); do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	return 1
}

lab_floe_welcomed() { grep -q '"Welcomed by the portal"' "$1"; }

lab_floe_start() {
	local dir=$1 bin=$2 what=$3 log=$1/$3.log
	case $what in
	coturn)
		lab_coturn inet 203.0.113.1 floe "$(cat "$dir/turn.pass")" "$log" >/dev/null
		LAB_FLOE_PID[$what]=${LAB_PIDS[-1]}
		lab_floe_until 10 sh -c "ip netns exec $(lab_ns inet) ss -Hlun | grep -q 203.0.113.1:3478"
		;;
	portal)
		lab_bg inet "$log" "$bin/floe-portal" --config "$dir/portal.conf" >/dev/null
		LAB_FLOE_PID[$what]=${LAB_PIDS[-1]}
		lab_floe_until 10 sh -c "ip netns exec $(lab_ns inet) ss -Hltn | grep -q 203.0.113.1:7400"
		;;
	gateway | client)
		lab_bg "$what" "$log" "$bin/floe-$what" --config "$dir/$what.conf" >/dev/null
		LAB_FLOE_PID[$what]=${LAB_PIDS[-1]}
		lab_floe_until 10 lab_floe_welcomed "$log" &&
			lab_floe_until 10 lab_floe_show "$dir" "$bin" "$what"
		;;
	iperf3)
		lab_bg res "$log" iperf3 -s >/dev/null
		LAB_FLOE_PID[$what]=${LAB_PIDS[-1]}
		lab_floe_until 10 sh -c "ip netns exec $(lab_ns res) ss -Hltn | grep -q :5201"
		;;
	*) echo "netlab: lab_floe_start: unknown '$what'" >&2; return 1 ;;
	esac
}

# lab_floe_pid WHAT: the daemon's own pid (lab_bg's is the shell around it).
lab_floe_pid() {
	local ns comm p
	case $1 in
	portal) ns=inet comm=floe-portal ;;
	gateway | client) ns=$1 comm=floe-$1 ;;
	coturn) ns=inet comm=turnserver ;;
	iperf3) ns=res comm=iperf3 ;;
	*) return 1 ;;
	esac
	for p in $(ip netns pids "$(lab_ns "$ns")" 2>/dev/null); do
		[[ $(cat "/proc/$p/comm" 2>/dev/null) == "$comm" ]] && echo "$p"
	done
}

lab_floe_stop() {
	local shell_pid=${LAB_FLOE_PID[$1]:-} pids rc
	[[ -n $shell_pid ]] || return 0
	pids=$(lab_floe_pid "$1")
	if [[ -n $pids ]]; then
		# shellcheck disable=SC2086
		kill -TERM $pids 2>/dev/null
		# shellcheck disable=SC2086
		lab_floe_until 5 sh -c "! kill -0 $pids 2>/dev/null" || kill -KILL $pids 2>/dev/null
	fi
	wait "$shell_pid" 2>/dev/null
	rc=$?
	unset "LAB_FLOE_PID[$1]"
	# The kernel removes a closed TUN a moment later; a successor that comes
	# sooner would find its name busy.
	case $1 in
	client) lab_floe_until 5 sh -c "! ip -n $(lab_ns client) link show floe0" ;;
	gateway) lab_floe_until 5 sh -c "! ip -n $(lab_ns gateway) link show floe-gw0" ;;
	esac
	return "$rc"
}

# ---------------------------------------------------------------------------
# System tests on the floe site (tests/system/nat_*_test.sh):
#
#   lab_floe_test_begin PREFIX BIN   skips (exit 77) without root or a tool,
#                                    fails without the daemons; creates
#                                    LAB_TMP, starts lab PREFIX (removed on
#                                    exit and signals: lab_auto_down), the
#                                    internet, keys/configs, coturn and portal
#   lab_floe_fail MESSAGE            "FAIL: MESSAGE", the logs' tails, exit 1
#   lab_floe_test_site CKIND GKIND [ICE_EXTRA]  a site (CKIND same-lan: both
#                                    behind one GKIND NAT) with iperf3, the
#                                    gateway and the client up
#   lab_floe_test_site_down          its daemons stopped, the site removed
#   lab_floe_test_end                removes the lab; fails if a namespace,
#                                    veth, process or file is left behind
# ---------------------------------------------------------------------------
lab_floe_test_begin() {
	local prefix=$1 p t
	LAB_FLOE_BIN=$2
	if [[ $(id -u) -ne 0 ]]; then
		echo "SKIP: needs root (network namespaces)"
		exit 77
	fi
	for p in floe-portal floe-gateway floe-client floectl; do
		[[ -x $LAB_FLOE_BIN/$p ]] || { echo "FAIL: $LAB_FLOE_BIN/$p not built"; exit 1; }
	done
	for t in turnserver iperf3 nft ping jq python3; do
		command -v "$t" >/dev/null || { echo "SKIP: $t not installed (scripts/deps)"; exit 77; }
	done
	LAB_TMP=$(mktemp -d "/tmp/$prefix.XXXXXX")
	lab_init "$prefix"
	LAB_BEFORE=$(lab_snapshot "$LAB_TMP")
	lab_auto_down lab_floe_test_cleanup
	export FLOE_LOG=info
	lab_internet
	lab_floe_configs "$LAB_TMP" "$LAB_FLOE_BIN" || lab_floe_fail "keys"
	for t in coturn portal; do
		lab_floe_start "$LAB_TMP" "$LAB_FLOE_BIN" "$t" || lab_floe_fail "$t did not come up"
	done
}

# The daemons first, with SIGTERM (a clean exit); lab_down KILLs the rest.
lab_floe_test_cleanup() {
	local what
	for what in client gateway portal; do lab_floe_stop "$what"; done
	rm -rf "$LAB_TMP"
}

lab_floe_fail() {
	local f
	echo "FAIL: $*"
	for f in "$LAB_TMP"/*.log; do
		[[ -f $f ]] && { echo "--- ${f##*/}"; grep -v '"severity":"DEBUG"' "$f" | tail -n 12; }
	done
	exit 1
}

lab_floe_test_site() {
	local what
	if [[ $1 == same-lan ]]; then
		lab_floe_site_same_lan "$2"
	else
		lab_floe_site "$1" "$2"
	fi
	lab_floe_node_confs "$LAB_TMP" "${3:-}"
	for what in iperf3 gateway client; do
		lab_floe_start "$LAB_TMP" "$LAB_FLOE_BIN" "$what" || lab_floe_fail "$1/$2: $what did not come up"
	done
}

lab_floe_test_site_down() {
	local what
	for what in client gateway iperf3; do lab_floe_stop "$what"; done
	lab_floe_site_down
}

lab_floe_test_end() {
	local pids survivor left
	pids=$(lab_procs)
	[[ -n $pids ]] || lab_floe_fail "no process found in the lab's namespaces"
	lab_auto_down_run
	# shellcheck disable=SC2086
	survivor=$(lab_gone $pids) || { echo "FAIL: process $survivor outlived the lab"; exit 1; }
	left=$(lab_left_behind "$LAB_BEFORE" "$LAB_TMP") || { echo "FAIL: left behind: $left"; exit 1; }
	echo "ok: no namespace, veth, process or file left behind"
}
