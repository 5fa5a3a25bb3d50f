#!/bin/sh
# The installed tree as a user gets it: `make install PREFIX=...` into a
# fresh directory, every public header compiled on its own, and programs
# built with nothing but the installed headers and pkg-config (shared
# libraries, no --static, no source tree). Prints "N passed, N failed".
set -u
cd "$(dirname "$0")/.."
build=${1:-build}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
pass=0; fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }
expect() { # what, expected, got
  if [ "$2" = "$3" ]; then ok; else bad "$1: expected '$2', got '$3'"; fi
}

make --no-print-directory -s install BUILD="$build" PREFIX="$tmp/prefix" >"$tmp/install.log" 2>&1 ||
  { cat "$tmp/install.log"; bad "make install"; echo "$pass passed, $fail failed"; exit 1; }
inc="$tmp/prefix/include/fwdelta"
export PKG_CONFIG_PATH="$tmp/prefix/lib/pkgconfig"
export LD_LIBRARY_PATH="$tmp/prefix/lib"

for h in "$inc"/*.h; do
  printf '#include <%s>\n' "$(basename "$h")" >"$tmp/h.c"
  if cc -std=c11 -Wall -Wextra -Werror -fsyntax-only -I"$inc" "$tmp/h.c" 2>"$tmp/h.log"; then ok
  else cat "$tmp/h.log"; bad "$(basename "$h") does not compile on its own"; fi
done
[ "$(ls "$inc" | wc -l)" -eq 5 ] && ok || bad "installed headers: $(ls "$inc" | tr '\n' ' ')(expected 5)"

prog() { # name, source, pkg, extra cflags...
  name=$1 src=$2 pkg=$3; shift 3
  # shellcheck disable=SC2046
  if cc -std=c11 -Wall -Wextra -Werror "$@" "$src" -o "$tmp/$name" $(pkg-config --cflags --libs "$pkg") \
      2>"$tmp/$name.log"; then ok; else cat "$tmp/$name.log"; bad "$name does not build against the installed tree"; fi
}
prog device tests/install/device_prog.c fwdelta-apply
expect "device program, library capacities" FWD_OK "$("$tmp/device" 2>&1)"
prog mismatch tests/install/device_prog.c fwdelta-apply -DFWD_APPLY_MAX_PAYLOAD=4096
expect "device program, other capacities" FWD_ERR_BUILD_MISMATCH "$("$tmp/mismatch" 2>&1)"
prog host tests/install/host_prog.c fwdelta
expect "host program" "4096 FWD_ERR_WRONG_BASE" "$("$tmp/host" 2>&1)"
# Each shared library's soname and pkg-config version is its installed
# header's API version.
versioned() { # library, header, macro, pkg-config package
  v=$(sed -n "s/^#define $3 \([0-9]*\)u.*/\1/p" "$inc/$2")
  expect "$1 soname" "$1.so.$v" "$(readelf -d "$tmp/prefix/lib/$1.so" | sed -n 's/.*soname: \[\(.*\)\]/\1/p')"
  expect "$4.pc version" "$v" "$(pkg-config --modversion "$4")"
}
versioned libfwdapply fwd_apply.h FWD_APPLY_API_VERSION fwdelta-apply
versioned libfwdgen fwd_gen.h FWD_GEN_API_VERSION fwdelta
# The command: one static executable (the Makefile's CLI_STATIC), so it
# needs no library at all where it is copied.
got=$(env -i "$tmp/prefix/bin/fwdelta" --version 2>&1)
case $got in "fwdelta "*" (patch format "*")") ok ;; *) bad "installed fwdelta --version: $got" ;; esac
expect "installed fwdelta needs no shared library" "" "$(readelf -d "$tmp/prefix/bin/fwdelta" | grep NEEDED)"
# The device library alone: nothing of the generator is linked.
expect "fwdelta-apply links the applier only" "" "$(pkg-config --libs fwdelta-apply | grep -o fwdgen)"
if nm -D "$tmp/device" 2>/dev/null | grep -q fwd_gen_; then bad "device program references the generator"; else ok; fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
