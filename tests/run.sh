#!/bin/sh
# Runs every test binary of a build directory and sums their results.
# Each binary prints its own "N passed, N failed" line; this prints the total
# as the last line and exits non-zero if anything failed. The binaries run
# FWDELTA_TEST_JOBS at a time (default: one per CPU; each works in its own
# temporary directory); their outputs are printed whole, in name order, as
# soon as each is done (2 CPUs: make check's tests 119 s -> 69-81 s).
set -u
build=${1:-build}
jobs=${FWDELTA_TEST_JOBS:-$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 1)}
results=$(mktemp -d) || exit 1
trap 'rm -rf "$results"' EXIT
tests=$(for t in "$build"/tests/test_*; do [ -x "$t" ] && echo "$t"; done)

# The two longest start first, so that neither starts when the rest are
# done; each test leaves NAME.out (stdout and stderr), then NAME.rc.
first="test_powercut test_encryption"
in_order() {
  for n in $first; do [ -x "$build/tests/$n" ] && echo "$build/tests/$n"; done
  for t in $tests; do case " $first " in *" $(basename "$t") "*) ;; *) echo "$t" ;; esac; done
}
in_order | xargs -P "$jobs" -n 1 sh -c \
  'n=$(basename "$1"); "$1" >"$0/$n.out" 2>&1; echo $? >"$0/$n.tmp" && mv "$0/$n.tmp" "$0/$n.rc"' \
  "$results" &
runner=$!

total_pass=0; total_fail=0; status=0
for t in $tests; do
  name=$(basename "$t")
  while [ ! -e "$results/$name.rc" ] && kill -0 "$runner" 2>/dev/null; do sleep 0.2; done
  rc=$(cat "$results/$name.rc" 2>/dev/null || echo 1)
  sed "s/^/[$name] /" "$results/$name.out" 2>/dev/null
  line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$results/$name.out" 2>/dev/null | tail -n 1)
  p=$(printf '%s' "$line" | sed -E 's/^([0-9]+) passed.*/\1/'); f=$(printf '%s' "$line" | sed -E 's/^[0-9]+ passed, ([0-9]+) failed.*/\1/')
  [ -n "$p" ] || { p=0; f=1; echo "[$name] no result line (crashed?)"; }
  [ "$rc" -eq 0 ] || { [ "$f" -gt 0 ] || f=1; }
  total_pass=$((total_pass + p)); total_fail=$((total_fail + f))
done
wait "$runner"
[ "$total_fail" -eq 0 ] || status=1
echo "$total_pass passed, $total_fail failed"
exit $status
