#!/bin/sh
# Runs every test binary of a build directory and sums their results.
# Each binary prints its own "N passed, N failed" line; this prints the total
# as the last line and exits non-zero if anything failed.
set -u
build=${1:-build}
total_pass=0; total_fail=0; status=0
for t in "$build"/tests/test_*; do
  [ -x "$t" ] || continue
  name=$(basename "$t")
  out=$("$t" 2>&1); rc=$?
  printf '%s\n' "$out" | sed "s/^/[$name] /"
  line=$(printf '%s\n' "$out" | grep -E '^[0-9]+ passed, [0-9]+ failed' | tail -n 1)
  p=$(printf '%s' "$line" | sed -E 's/^([0-9]+) passed.*/\1/'); f=$(printf '%s' "$line" | sed -E 's/^[0-9]+ passed, ([0-9]+) failed.*/\1/')
  [ -n "$p" ] || { p=0; f=1; echo "[$name] no result line (crashed?)"; }
  [ "$rc" -eq 0 ] || { [ "$f" -gt 0 ] || f=1; }
  total_pass=$((total_pass + p)); total_fail=$((total_fail + f))
done
[ "$total_fail" -eq 0 ] || status=1
echo "$total_pass passed, $total_fail failed"
exit $status
