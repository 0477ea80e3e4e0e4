#!/usr/bin/env bash
# ABI fence of libfloe.so: every symbol it exports starts with floe_, so an
# embedder can never bind to a private helper or to a copy of a dependency.
# Also checks the SONAME, and that the library exports something at all (a
# version script that hid everything would pass the prefix rule). No root.
set -euo pipefail

# Symbols the toolchain itself may define in any shared object; the version
# node FLOE_0 is packaging/floe.map's own name. Nothing else is allowed.
ALLOWED=(_init _fini FLOE_0)
# Functions the public API cannot lose without an ABI break (the key helpers
# floectl uses); a sample, so that an empty export list cannot pass.
REQUIRED=(floe_key_generate floe_key_public floe_key_to_base64 floe_key_from_base64)
SONAME=libfloe.so.0

LIB=${FLOE_BINARY_DIR:-${0%/*}/../../build}/libfloe.so
fail() {
	echo "FAIL: $*"
	exit 1
}
command -v nm >/dev/null 2>&1 || { echo "SKIP: nm (binutils) is not installed"; exit 77; }
[[ -e $LIB ]] || fail "$LIB not built (cmake --build <dir> --target floe)"

mapfile -t syms < <(nm -D --defined-only "$LIB" | awk '{print $NF}')
((${#syms[@]} > 0)) || fail "$LIB exports no symbol at all"

bad=()
for s in "${syms[@]}"; do
	s=${s%%@*} # versioned names print as name@@FLOE_0
	[[ $s == floe_* ]] && continue
	allowed=0
	for a in "${ALLOWED[@]}"; do
		[[ $s == "$a" ]] && allowed=1
	done
	((allowed)) || bad+=("$s")
done
((${#bad[@]} == 0)) || fail "$LIB exports ${#bad[@]} symbol(s) without the floe_ prefix: ${bad[*]}"

for r in "${REQUIRED[@]}"; do
	printf '%s\n' "${syms[@]}" | grep -qx "$r\(@.*\)\?" || fail "$LIB does not export $r"
done

# Every function the public header declares is exported: a declaration
# whose definition is hidden would fail only in an embedder's link.
HDR=${FLOE_SOURCE_DIR:-${0%/*}/../..}/include/floe/floe.h
[[ -r $HDR ]] || fail "$HDR not found"
mapfile -t declared < <(sed -nE 's/^FLOE_EXPORT.*[* ](floe_[a-z0-9_]+)\(.*/\1/p' "$HDR")
((${#declared[@]} > 0)) || fail "no FLOE_EXPORT function found in $HDR"
for d in "${declared[@]}"; do
	printf '%s\n' "${syms[@]}" | grep -qx "$d\(@.*\)\?" || fail "$LIB does not export $d (declared in floe.h)"
done

soname=$(readelf -d "$LIB" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
[[ $soname == "$SONAME" ]] || fail "SONAME is '$soname', expected $SONAME"

echo "PASS: $LIB exports ${#syms[@]} symbols, all floe_-prefixed (or ${ALLOWED[*]}), the ${#declared[@]} functions of floe.h among them; SONAME $soname"
