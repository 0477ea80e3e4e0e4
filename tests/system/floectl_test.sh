#!/usr/bin/env bash
# floectl genkey / pubkey against wireguard-tools' wg genkey / pubkey:
# the same key gives the same public key either way, and both refuse the
# same malformed input. Needs no root; skips (77) without wg.
set -euo pipefail

ROUNDS=20

if ! command -v wg >/dev/null 2>&1; then
	echo "SKIP: wg (wireguard-tools) is not installed, nothing to compare floectl with"
	exit 77
fi
BIN=${FLOE_BINARY_DIR:-${0%/*}/../../build}/floectl
if [[ ! -x $BIN ]]; then
	echo "FAIL: $BIN not built (cmake --build <dir> --target floectl)"
	exit 1
fi

tmp=$(mktemp -d /tmp/log-floectl-test.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

fail() {
	echo "FAIL: $*"
	exit 1
}

for ((i = 0; i < ROUNDS; i++)); do
	# floectl genkey | wg pubkey == floectl genkey | floectl pubkey
	k=$("$BIN" genkey)
	[[ $k =~ ^[A-Za-z0-9+/]{43}=$ ]] || fail "genkey printed '$k'"
	ours=$(printf '%s\n' "$k" | "$BIN" pubkey)
	theirs=$(printf '%s\n' "$k" | wg pubkey)
	[[ $ours == "$theirs" ]] || fail "pubkey of floectl's key: floectl $ours, wg $theirs"

	# wg genkey | floectl pubkey == wg genkey | wg pubkey
	w=$(wg genkey)
	ours=$(printf '%s\n' "$w" | "$BIN" pubkey)
	theirs=$(printf '%s\n' "$w" | wg pubkey)
	[[ $ours == "$theirs" ]] || fail "pubkey of wg's key: floectl $ours, wg $theirs"
done

# Output is exactly one line: 44 characters and a newline.
(umask 077 && "$BIN" genkey >"$tmp/key")
[[ $(wc -c <"$tmp/key") -eq 45 ]] || fail "genkey wrote $(wc -c <"$tmp/key") bytes"
printf '%s' "$w" | "$BIN" pubkey >"$tmp/pub"
[[ $(wc -c <"$tmp/pub") -eq 45 ]] || fail "pubkey wrote $(wc -c <"$tmp/pub") bytes"
# No trailing newline on input is fine, as for wg.
[[ $(cat "$tmp/pub") == $(printf '%s' "$w" | wg pubkey) ]] || fail "pubkey without newline"

# Malformed keys: both tools refuse them, floectl with exit 1 and a message.
bad=(
	""
	"junk"
	"${w:0:43}"
	"${w}A"
	"${w:0:20}*${w:21}"
	"${w:0:20}_${w:21}"
	"$(printf 'A%.0s' {1..44})"
)
for b in "${bad[@]}"; do
	if printf '%s\n' "$b" | wg pubkey >/dev/null 2>&1; then
		fail "wg accepted '$b' (test input is not malformed)"
	fi
	set +e
	out=$(printf '%s\n' "$b" | "$BIN" pubkey 2>"$tmp/err")
	rc=$?
	set -e
	[[ $rc -eq 1 ]] || fail "floectl pubkey '$b' exited $rc"
	[[ -z $out ]] || fail "floectl pubkey '$b' printed '$out'"
	grep -q "^floectl: key is not the correct length or format$" "$tmp/err" ||
		fail "floectl pubkey '$b' said: $(cat "$tmp/err")"
done

# A world-readable destination gets wg's warning; a private one does not.
(umask 022 && "$BIN" genkey >"$tmp/open" 2>"$tmp/err")
grep -q "world accessible" "$tmp/err" || fail "no warning for a world-readable key file"
(umask 077 && "$BIN" genkey >"$tmp/closed" 2>"$tmp/err")
[[ ! -s $tmp/err ]] || fail "warning for a private key file: $(cat "$tmp/err")"

# Usage errors, and show with no daemon to ask.
set +e
"$BIN" genkey extra >/dev/null 2>&1; [[ $? -eq 1 ]] || fail "genkey with an argument"
"$BIN" nonsense >/dev/null 2>&1; [[ $? -eq 1 ]] || fail "unknown subcommand"
"$BIN" >/dev/null 2>&1; [[ $? -eq 1 ]] || fail "no subcommand"
"$BIN" --help | grep -q "genkey" || fail "--help does not list genkey"
"$BIN" show --json --socket "$tmp/no-daemon.sock" >"$tmp/out" 2>"$tmp/err"; rc=$?
set -e
[[ $rc -eq 1 && ! -s $tmp/out ]] || fail "show: exit $rc, output '$(cat "$tmp/out")'"
grep -q "no-daemon.sock: No such file" "$tmp/err" || fail "show said: $(cat "$tmp/err")"

echo "PASS: floectl genkey/pubkey agree with wg over $ROUNDS rounds each way; ${#bad[@]} malformed keys refused"
