#!/bin/sh
# One apply on QEMU's mps2-an386: makes a patch OLD -> NEW with the build's
# key, places bank A, the patch and the run's parameters in the board's PSRAM
# (device/fw/board.h), runs the firmware ELF with an exact instruction count
# (-icount shift=0) and prints its report. Exit status is the firmware's
# (0 = pass).
# usage: run_pair.sh DEVB CLI ELF OLD NEW WORKDIR [CHUNK]
# FWD_DIFF_FLAGS: extra `fwdelta diff` flags (a profile's payload bound).
# FWDQ: the host helper, when DEVB (a variant's) has none of its own.
set -eu
devb=$1 cli=$2 elf=$3 old=$4 new=$5 work=$6 chunk=${7:-1000}

bank_max=$((0x400000)) patch_max=$((0x600000))
mkdir -p "$work"
size() { wc -c <"$1" | tr -d ' '; }
if [ "$(size "$old")" -gt $bank_max ] || [ "$(size "$new")" -gt $bank_max ]; then
  echo "run_pair: $old or $new is larger than a 4 MiB bank of the emulated board" >&2
  exit 2
fi
product=$(sed -n 's/^#define QP_PRODUCT *"\(.*\)".*/\1/p' device/fw/qemu_params.h)
# shellcheck disable=SC2086
"$cli" diff -f --key "$devb/keys/k.pem" --product "$product" ${FWD_DIFF_FLAGS:-} "$old" "$new" -o "$work/patch.fwd" \
  2>"$work/diff.log" || {
  cat "$work/diff.log" >&2
  exit 2
}
if [ "$(size "$work/patch.fwd")" -gt $patch_max ]; then
  echo "run_pair: the patch is larger than the 6 MiB staging area" >&2
  exit 2
fi
"${FWDQ:-$devb/host/fwdq}" params "$old" "$new" "$work/patch.fwd" "$chunk" "$work/params.bin"

set +e
timeout 900 qemu-system-arm -M mps2-an386 -display none -monitor none -serial none \
  -icount shift=0 -semihosting-config enable=on,target=native -kernel "$elf" \
  -device loader,file="$old",addr=0x21000000,force-raw=on \
  -device loader,file="$work/patch.fwd",addr=0x21900000,force-raw=on \
  -device loader,file="$work/params.bin",addr=0x21810000,force-raw=on >"$work/out.txt" 2>&1
rc=$?
set -e
echo "patch: $(size "$work/patch.fwd") bytes for $(size "$new") bytes of new image" >>"$work/out.txt"
cat "$work/out.txt"
[ $rc -ne 124 ] || echo "run_pair: QEMU timed out" >&2
exit $rc
