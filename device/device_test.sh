#!/bin/sh
# `make device-test`: applies under QEMU on a small pair, the real corpus's
# P01 (Cortex-M, 38 KB) when corpus/locate.sh finds it, else the project's own
# sample firmware pair: a plain patch and an encrypted one. Prints
# "N passed, N failed".
# usage: device_test.sh DEVB CLI SAMPLE_DIR
set -u
devb=$1 cli=$2 sample=$3
if corpus=$(./corpus/locate.sh); then
  old=$corpus/nodon-sin4-metering-stm32/1.4.5.bin new=$corpus/nodon-sin4-metering-stm32/1.5.0.bin
  echo "device-test: corpus pair P01 nodon-sin4-metering-stm32 1.4.5 -> 1.5.0"
else
  old=$sample/v1.bin new=$sample/v2.bin
  echo "device-test: no corpus found; sample firmware pair v1 -> v2"
fi
arm-none-eabi-size "$devb/m4/fw.elf"
# The pair as a plain patch, then encrypted for the board's device key.
pass=0 fail=0
for run in plain encrypted; do
  flags=""
  [ $run = plain ] || flags="--encrypt-for $devb/keys/dev.pub.pem"
  FWD_DIFF_FLAGS=$flags ./device/run_pair.sh "$devb" "$cli" "$devb/m4/fw.elf" "$old" "$new" "$devb/run/$run"
  rc=$?
  if [ $rc -eq 0 ] && grep -q '^result: PASS$' "$devb/run/$run/out.txt"; then
    pass=$((pass + 1))
  else
    echo "device-test: $run patch: QEMU exit status $rc" >&2
    fail=$((fail + 1))
  fi
done
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
