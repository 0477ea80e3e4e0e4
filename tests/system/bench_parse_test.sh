#!/usr/bin/env bash
# scripts/bench's parsers (scripts/bench --parse NAME FILE) on the lines the
# benchmarks print: the right figures land in the right rows, and a
# malformed or missing line fails the parse instead of becoming a row.
# No build, no root; a second or so.
set -uo pipefail

src=${FLOE_SOURCE_DIR:-$(cd "${0%/*}/../.." && pwd)}
bench=$src/scripts/bench
tmp=$(mktemp -d /tmp/floe-bench-parse.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

# parses NAME FILE: the parser's rows into $out; fails the test if it fails.
parses() {
	out=$("$bench" --parse "$1" "$2" 2>&1) || fail "$1: a good sample did not parse: $out"
}
# refuses NAME FILE WHAT: the parser must fail, saying WHAT.
refuses() {
	local o
	o=$("$bench" --parse "$1" "$2" 2>&1) && fail "$1: accepted $3: $o"
	[[ $o == *"FAIL: $1"* ]] || fail "$1: no clear message for $3: $o"
	echo "ok: $1 refuses $3"
}
# has ROW: $out holds exactly this tab-separated row.
has() {
	grep -qxF "$(printf '%b' "$1")" <<<"$out" || fail "no row '$1' in: $out"
}

result='loadgen result n=1000 client_workers=2 gateway_workers=1 connected=1000 connected_at_gateway=1000 failures=0 setup_s=12.035 setup_per_s=83.1 time_to_all_connected_ms=12035 duration_s=10.0 rate_pps_per_conn=1 sent_pps=997 echoed_pps=996 echo_mbit_s=0.511 sent=10000 echoed=9990 loss_pct=0.10 client_tx_drops=0 gw_procs=1 gw_fds=4022 gw_fds_per_conn=4.00 gw_threads=1005 gw_threads_per_conn=1.00 gw_rss_kib=155400 gw_rss_kib_per_conn=139.3 gw_rss_kib_after_traffic=163956 gw_cpu_pct_traffic=25.7 client_procs=2 client_fds_per_node=23.00 client_threads_per_node=5.00 client_rss_kib_per_node=1690.7 client_max_fds_per_proc=11500 errors=0'
{
	echo 'loadgen setup n=1000 connected=1000'
	echo "$result"
} >"$tmp/loadgen.txt"
parses loadgen "$tmp/loadgen.txt"
has 'loadgen\t1000 clients via portal+gateway: time to all connected\t12.035\ts\t-\t-'
has 'loadgen\t1000 clients via portal+gateway: echoed\t996\tpkt/s\tsent 997 pkt/s\t-'
has 'loadgen\t1000 clients via portal+gateway: loss\t0.10\t%\t-\t-'
has 'loadgen\t1000 clients via portal+gateway: gateway RSS per connection\t139.3\tKiB\t-\t-'
# The sweep's row, in SCALE_KEYS order (results.md and the plot read it by column).
has 'scale\t1000\t1000\t12.035\t83.1\t12035\t997\t996\t0.10\t1\t4.00\t1.00\t139.3\t25.7\t23.00\t5.00\t1690.7\t0'
echo "ok: loadgen result line -> rows and the sweep's row"

sed 's/ setup_per_s=83.1 / setup_per_s=fast /' "$tmp/loadgen.txt" >"$tmp/bad1.txt"
refuses loadgen "$tmp/bad1.txt" "a figure that is not a number"
sed 's/ gw_fds_per_conn=4.00//' "$tmp/loadgen.txt" >"$tmp/bad2.txt"
refuses loadgen "$tmp/bad2.txt" "a missing key"
grep -v '^loadgen result' "$tmp/loadgen.txt" >"$tmp/bad3.txt"
refuses loadgen "$tmp/bad3.txt" "output without a result line"

cat >"$tmp/conn_scale.txt" <<'EOF'
conn_scale n=0 fds=16 threads=3 rss_kib=14000 fds_per_conn=0.00 threads_per_conn=0.00 rss_kib_per_conn=0.0 setup_s=0.000 setup_per_s=0
conn_scale n=20 fds=96 threads=23 rss_kib=17000 fds_per_conn=4.00 threads_per_conn=1.00 rss_kib_per_conn=150.2 setup_s=0.020 setup_per_s=1000
conn_scale n=100 fds=416 threads=103 rss_kib=26000 fds_per_conn=4.00 threads_per_conn=1.00 rss_kib_per_conn=122.0 setup_s=0.076 setup_per_s=1316
conn_scale_idle n=100 idle_s=3.0 cpu_ms_per_s=0.30 cpu_pct=0.03 wakeups_per_s=5 wakeups_per_conn_per_s=0.050 event_drops=0
conn_scale_teardown n=100 teardown_s=0.200 fds_after=5
EOF
parses conn_scale "$tmp/conn_scale.txt"
has 'conn_scale\t100 idle connections: RSS per connection\t122.0\tKiB\t-\t-'
has 'conn_scale\t20 idle connections: set-up rate\t1000\tconns/s\t-\t-'
has 'conn_scale\t100 idle connections: CPU\t0.03\t% of a core\t-\t-'
grep -q '	0 idle connections' <<<"$out" && fail "conn_scale: its n=0 baseline became rows: $out"
[[ $(wc -l <<<"$out") -eq 7 ]] || fail "conn_scale: expected 7 rows (2 x 3 + CPU), got: $out"
echo "ok: conn_scale lines -> rows (the n=0 baseline is none)"
sed 's/rss_kib_per_conn=122.0/rss_kib_per_conn=/' "$tmp/conn_scale.txt" >"$tmp/bad4.txt"
refuses conn_scale "$tmp/bad4.txt" "an empty figure"
echo 'conn_scale: no lines at all' >"$tmp/bad5.txt"
refuses conn_scale "$tmp/bad5.txt" "output without figures"

echo 'flood: sent=150000 seconds=1.00 sent_per_s=150000 target_per_s=0 send_errors=0 cookie_replies=0' >"$tmp/flood.txt"
parses flood "$tmp/flood.txt"
has 'flood\tgenerator, initiations to its own sink\t150000\tinitiations/s\t-\t-'
echo "ok: flood line -> row"
echo 'flood: sent=150000 seconds=1.00 sent_per_s=1.5e5' >"$tmp/bad6.txt"
refuses flood "$tmp/bad6.txt" "a figure in another notation"

echo 'loadgen_inproc n=20 workers=1 established=20 failed=0 setup_s=0.111 setup_per_s=180.2 time_to_all_connected_ms=111 duration_s=2.0 rate_pps_per_conn=10 echo_pps=200 echo_mbit_s=0.102 client_tx=400 client_rx=400 client_tx_drops=0 loss_pct=0.00 gw_fds=96 gw_fds_per_conn=4.00 gw_threads=23 gw_threads_per_conn=1.00 gw_rss_kib=18000 gw_rss_kib_per_conn=200.5 gw_cpu_pct=4.5 gw_wakeups_per_conn_per_s=2.00 echo_drops=0 gw_event_drops=0 errors=0' >"$tmp/inproc.txt"
parses loadgen_inproc "$tmp/inproc.txt"
has 'loadgen_inproc\t20 clients, in-process gateway: set-up rate\t180.2\tconns/s\t-\t-'
has 'loadgen_inproc\t20 clients, in-process gateway: gateway RSS per connection\t200.5\tKiB\t-\t-'
echo "ok: loadgen_inproc line -> rows"
sed 's/ echo_pps=200//' "$tmp/inproc.txt" >"$tmp/bad7.txt"
refuses loadgen_inproc "$tmp/bad7.txt" "a missing key"

o=$("$bench" --parse nosuch "$tmp/flood.txt" 2>&1) && fail "an unknown parser was accepted: $o"
echo "ok: an unknown parser name is an error"
echo "bench_parse: all checks passed"
