#!/bin/sh
# `make boot-demo`: the boot module on QEMU mps2-an386 with a real bootloader
# and two application versions (device/boot/). Every QEMU run is one
# power-on; flash persists in WORK/flash.bin between runs (device/boot/demo.h).
# Prints one line per scenario, "N passed, N failed" for scripts/test_all.sh,
# and ends with "boot demo: N scenarios, N as expected".
# usage: boot_demo.sh DEVB CLI
set -u
devb=$(cd "$1" && pwd) cli=$(cd "$(dirname "$2")" && pwd)/$(basename "$2")
out=$devb/boot-demo
work=$out/run
key=$devb/keys/k.pem
product=$(sed -n 's/^#define DEMO_PRODUCT *"\(.*\)".*/\1/p' device/boot/demo.h)
flash_size=$((0x46000)) # DEMO_FLASH_SIZE

mkdir -p "$out"
: >"$out/empty"
sign() { # OLD NEW SECURITY_VERSION OUT
  "$cli" diff -f --key "$key" --product "$product" --security-version "$3" "$1" "$2" -o "$4" >/dev/null 2>"$4.log" || {
    cat "$4.log" >&2
    exit 2
  }
}
# The factory manifest: the prefix of a full-image patch from an empty base.
sign "$out/empty" "$out/app_v1.bin" 1 "$out/factory.fwd"
head -c 320 "$out/factory.fwd" >"$out/factory.mf"
sign "$out/app_v1.bin" "$out/app_v2.bin" 2 "$out/v1-v2.fwd"
sign "$out/app_v2.bin" "$out/app_v1.bin" 1 "$out/v2-v1-downgrade.fwd"

# A factory-fresh board: v1 in slot 0, everything else erased.
fresh() {
  rm -rf "$work"
  mkdir -p "$work"
  tr '\000' '\377' </dev/zero | head -c $flash_size >"$work/flash.bin"
  dd if="$out/app_v1.bin" of="$work/flash.bin" conv=notrunc status=none
  cp "$out/factory.mf" "$work/"
  runs=0
}

# power_on ACTION [BOOT_CUT APP_CUT MODE] [PATCH]: one power-on; its output
# is in $log, its exit code in $rc (0 done, 10 reset, 11 power cut, 12 halt).
power_on() {
  runs=$((runs + 1))
  echo "$1 ${2:-0} ${3:-0} ${4:-b}" >"$work/run.txt"
  [ -z "${5:-}" ] || cp "$5" "$work/patch.fwd"
  log=$work/out.$runs.txt
  (cd "$work" && timeout 300 qemu-system-arm -M mps2-an386 -display none -monitor none -serial none \
    -semihosting-config enable=on,target=native -kernel "$out/boot.elf") >"$log" 2>&1
  rc=$?
}

fails=""
# expect RC PATTERN...: the last power-on exited with RC and printed each line.
expect() {
  want_rc=$1
  shift
  [ "$rc" -eq "$want_rc" ] || fails="$fails; run $runs: exit $rc, not $want_rc"
  for p in "$@"; do
    grep -qxF "$p" "$log" || fails="$fails; run $runs: no '$p'"
  done
}

total=0 good=0
scenario() { # NAME FUNCTION
  fails=""
  fresh
  "$2"
  total=$((total + 1))
  if [ -z "$fails" ]; then
    good=$((good + 1))
    echo "boot demo: $1: as expected ($runs power-ons)"
  else
    echo "boot demo: $1: NOT as expected${fails} (logs in $work)"
    cp -r "$work" "$out/failed-$total"
  fi
}

update_to_v2() { # v1 boots (factory provisioning on first power-on), applies, requests a trial
  power_on U 0 0 b "$out/v1-v2.fwd"
  expect 10 "app: version: 1" "app: apply: FWD_OK" "app: installed security version: 2" "app: request trial: FWD_OK"
}

s_confirm() {
  update_to_v2
  power_on C
  expect 0 "bootloader: boots slot: 1" "bootloader: slot state: trial" "app: version: 2" "app: confirm: FWD_OK" \
    "app: floor: 2"
  power_on R
  expect 0 "bootloader: boots slot: 1" "bootloader: slot state: confirmed" "bootloader: floor: 2" "app: version: 2"
}

s_never_confirms() {
  update_to_v2
  for i in 1 2 3; do
    power_on N
    expect 10 "bootloader: boots slot: 1" "app: version: 2" "app: no confirm: watchdog reset"
  done
  power_on R
  expect 0 "bootloader: refused slot: 1" "bootloader: because: FWD_ERR_TRIAL_EXPIRED" "bootloader: boots slot: 0" \
    "app: version: 1" "bootloader: floor: 1"
}

s_altered() {
  power_on T 0 0 b "$out/v1-v2.fwd"
  expect 10 "app: apply: FWD_OK" "app: request trial: FWD_OK"
  power_on R
  expect 0 "bootloader: refused slot: 1" "bootloader: because: FWD_ERR_SLOT_HASH" "bootloader: boots slot: 0" \
    "app: version: 1"
}

s_below_floor() {
  update_to_v2
  power_on C
  expect 0 "app: confirm: FWD_OK" "app: floor: 2"
  power_on U 0 0 b "$out/v2-v1-downgrade.fwd"
  expect 0 "app: version: 2" "app: apply: FWD_ERR_ROLLBACK" "app: flash writes: 0"
  power_on R
  expect 0 "bootloader: boots slot: 1" "app: version: 2"
}

s_cut_factory() {
  power_on R 1 0 t
  expect 11 "power cut during a state erase"
  power_on R
  expect 0 "bootloader: factory provisioning: FWD_OK" "bootloader: boots slot: 0" "app: version: 1"
}

s_cut_request() {
  power_on U 0 1 b "$out/v1-v2.fwd"
  expect 11 "app: apply: FWD_OK" "power cut during a state program"
  power_on R
  expect 0 "bootloader: boots slot: 0" "app: version: 1"
  update_to_v2
  power_on C
  expect 0 "app: version: 2" "app: confirm: FWD_OK"
}

s_cut_trial_start() {
  update_to_v2
  power_on C 1 0 t
  expect 11 "power cut during a state program"
  power_on C
  expect 0 "bootloader: boots slot: 1" "bootloader: slot state: trial" "app: version: 2" "app: confirm: FWD_OK"
}

s_cut_confirm() { # $1: cut mode
  update_to_v2
  power_on C 0 1 "$1"
  expect 11 "app: version: 2" "power cut during a state program"
  power_on R
  expect 0 "bootloader: boots slot: 1" "bootloader: slot state: trial" "bootloader: floor: 1" "app: version: 2"
  power_on C
  expect 0 "app: confirm: FWD_OK" "app: floor: 2"
}
s_cut_confirm_before() { s_cut_confirm b; }
s_cut_confirm_torn() { s_cut_confirm t; }

scenario "(1) v2 confirms: the floor rises to 2, v2 stays" s_confirm
scenario "(2) v2 never confirms: after 3 trial boots the bootloader reverts, v1 runs" s_never_confirms
scenario "(3) slot B altered after finish: refused at boot, v1 runs" s_altered
scenario "(4) patch below the raised floor: refused before any write" s_below_floor
scenario "(5a) power cut in the factory provisioning (torn erase)" s_cut_factory
scenario "(5b) power cut before the trial request's record: v1 runs, the update is requested again" s_cut_request
scenario "(5c) power cut in the bootloader's trial record (torn): v2 boots on trial" s_cut_trial_start
scenario "(5d) power cut before the confirm record: v2 still on trial, confirms again" s_cut_confirm_before
scenario "(5e) power cut in the confirm record (torn): v2 still on trial, confirms again" s_cut_confirm_torn

echo "$good passed, $((total - good)) failed"
echo "boot demo: $total scenarios, $good as expected"
[ "$good" -eq "$total" ]
