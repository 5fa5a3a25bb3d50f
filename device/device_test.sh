#!/bin/sh
# `make device-test`: one apply under QEMU on a small pair, the real corpus's
# P01 (Cortex-M, 38 KB) when corpus/locate.sh finds it, else the project's own
# sample firmware pair. Prints "1 passed, 0 failed" or "0 passed, 1 failed".
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
./device/run_pair.sh "$devb" "$cli" "$devb/m4/fw.elf" "$old" "$new" "$devb/run/test"
rc=$?
if [ $rc -eq 0 ] && grep -q '^result: PASS$' "$devb/run/test/out.txt"; then
  echo "1 passed, 0 failed"
  exit 0
fi
echo "device-test: QEMU exit status $rc" >&2
echo "0 passed, 1 failed"
exit 1
