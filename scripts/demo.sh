#!/bin/sh
# make demo: key, signed patch between two real firmware images, apply on the
# simulated device, verify. Uses the shared corpus when present, else the
# project's own sample firmware built for Cortex-M in two versions.
set -eu
build=${1:-build}
fw="$build/fwdelta"
work="$build/demo"
rm -rf "$work"; mkdir -p "$work"

if corpus=$(./corpus/locate.sh); then
  old="$corpus/openmv-cam-m7/3.4.2.bin"; new="$corpus/openmv-cam-m7/3.4.3.bin"
  echo "== images: OpenMV Cam M7 firmware 3.4.2 -> 3.4.3 (Cortex-M7, from $corpus)"
else
  echo "== no corpus found (../shared/corpus or FWDELTA_CORPUS): building the sample firmware"
  make --no-print-directory sample-fw >"$work/sample-build.log" 2>&1 || { cat "$work/sample-build.log"; exit 1; }
  old="$build/sample/v1.bin"; new="$build/sample/v2.bin"
  echo "== images: sample sensor-node firmware v1 -> v2 (Cortex-M4 with the applier linked in, built here: corpus/sample)"
fi

echo "== keygen"
"$fw" keygen -o "$work/key.pem"
echo "== diff"
"$fw" diff --key "$work/key.pem" --product demo-board --security-version 2 "$old" "$new" -o "$work/update.fwd"
"$fw" info "$work/update.fwd"
echo "== verify (signature and hash chain, no image needed)"
"$fw" verify --pubkey "$work/key.pub.pem" "$work/update.fwd"
echo "== apply on the simulated device (bank A = old image, bank B rebuilt block by block)"
"$fw" apply --pubkey "$work/key.pub.pem" --product demo-board --min-security-version 1 \
  "$old" "$work/update.fwd" -o "$work/rebuilt.bin"
cmp "$work/rebuilt.bin" "$new"
old_size=$(wc -c < "$old"); new_size=$(wc -c < "$new"); patch_size=$(wc -c < "$work/update.fwd")
echo "== OK: rebuilt image is byte-identical to the new image"
awk -v o="$old_size" -v n="$new_size" -v p="$patch_size" 'BEGIN {
  printf "old %d bytes, new %d bytes, patch %d bytes = %.2f%% of the new image\n", o, n, p, 100 * p / n }'

# The same pair through the tools people compare with. Theirs are bare
# deltas; ours also carries the 320-byte signed header and 40 bytes per
# segment of hash chain, which `info --json` separates from the delta.
echo "== the same pair with other tools (bare deltas: no signature, no hash chain, no resume)"
framing=$("$fw" info --json "$work/update.fwd" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["segments"])' 2>/dev/null || echo 1)
printf '%-28s %9d bytes (%d of them the signed envelope)\n' "fwdelta" "$patch_size" $((320 + 40 * framing))
peer() { # name, output file, command...
  name=$1 out=$2; shift 2
  if command -v "$1" >/dev/null 2>&1 && "$@" >/dev/null 2>&1; then
    printf '%-28s %9d bytes\n' "$name" "$(wc -c < "$out")"
  else
    printf '%-28s %9s\n' "$name" "(not installed)"
  fi
}
peer "bsdiff" "$work/p.bsdiff" bsdiff "$old" "$new" "$work/p.bsdiff"
peer "xdelta3 -9" "$work/p.xdelta" xdelta3 -9 -f -e -s "$old" "$new" "$work/p.xdelta"
peer "zstd -19 --patch-from" "$work/p.zst" zstd -q -19 -f --patch-from="$old" "$new" -o "$work/p.zst"
