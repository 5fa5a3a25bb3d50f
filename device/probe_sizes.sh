#!/bin/sh
# Reads the sizes device/probe_dctx.c encodes as array lengths and prints them
# as "name bytes" lines, then the applier workspace: sizeof(ZSTD_DCtx) rounded
# up to 256 bytes. usage: probe_sizes.sh NM PROBE.o
set -eu
nm=$1 obj=$2
"$nm" -S "$obj" | while read -r _addr size _type name; do
  case $name in fwd_probe_*) echo "${name#fwd_probe_} $((0x$size))" ;; esac
done | sort
dctx=$("$nm" -S "$obj" | awk '$4 == "fwd_probe_dctx_size" { print $2 }')
[ -n "$dctx" ] || { echo "probe_sizes: no fwd_probe_dctx_size in $obj" >&2; exit 1; }
echo "workspace $(( (0x$dctx + 255) / 256 * 256 ))"
