#!/bin/sh
# Runs AFL++ on each fuzz target in turn (one fuzzer at a time: the machines
# are shared) and prints, per target, execs/sec, total execs, edges and paths
# covered, crashes and hangs. Exits non-zero if any target crashed, hung, or
# could not run. Called by `make fuzz` once the targets and seeds are built.
#
# usage: run.sh <build-fuzz dir> <seconds per target> <target>...
set -u
build=$1; seconds=$2; shift 2
here=$(cd "$(dirname "$0")" && pwd)
export AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_NO_UI=1 AFL_QUIET=1
export FWD_FUZZ_KEY="$build/fuzz-key.pem"

# Per-run timeout in ms: the round trip runs the matcher, the rest are quick
# (a fraction of a millisecond per input). A run over it is run again with
# three times as long (AFL_HANG_TMOUT) and saved as a hang only if it times
# out again: a shared CI machine that stalls for a second once made one
# input of a 0.2 ms target (decode) a "hang" that replayed cleanly.
timeout_of() { case $1 in roundtrip) echo 3000 ;; *) echo 1000 ;; esac; }

stat_of() { sed -n "s/^$2 *: *//p" "$1" | head -n 1; }

status=0
summary=""
for t in "$@"; do
  in="$build/in/$t"; out="$build/out/$t"; log="$build/out/$t.log"
  rm -rf "$in" "$out"; mkdir -p "$in" "$build/out"
  # Every regression input must pass (afl-fuzz would merely skip a crashing
  # seed); then they join the seeds made at build time.
  cp "$build/seeds/$t"/* "$in"/ 2>/dev/null
  for f in "$here/regressions/$t"/*; do
    [ -f "$f" ] || continue
    if ! ASAN_OPTIONS=detect_leaks=0 "$build/fuzz_$t" <"$f" >"$log" 2>&1; then
      echo "fuzz: $t: regression input $f fails again:"; tail -n 15 "$log"
      status=1; summary="$summary$(printf '%-10s regression %s fails' "$t" "$(basename "$f")")\n"
    fi
    cp "$f" "$in/regression-$(basename "$f")"
  done
  echo "fuzz: $t for ${seconds}s ($(ls "$in" | wc -l) seeds)"
  tmout=$(timeout_of "$t")
  AFL_HANG_TMOUT=$((3 * tmout)) afl-fuzz -V "$seconds" -i "$in" -o "$out" -x "$here/fwd.dict" -t "$tmout" \
    -- "$build/fuzz_$t" >"$log" 2>&1
  rc=$?
  stats="$out/default/fuzzer_stats"
  if [ ! -f "$stats" ]; then
    echo "fuzz: $t: afl-fuzz did not run (exit $rc); end of $log:"; tail -n 25 "$log"
    status=1; summary="$summary$(printf '%-10s did not run' "$t")\n"; continue
  fi
  execs=$(stat_of "$stats" execs_done)
  start=$(stat_of "$stats" start_time); last=$(stat_of "$stats" last_update)
  elapsed=$((last - start)); [ "$elapsed" -gt 0 ] || elapsed=1
  crashes=$(stat_of "$stats" saved_crashes); hangs=$(stat_of "$stats" saved_hangs)
  line=$(printf '%-10s %9s %11s %7s %7s %7s %7s' "$t" "$((execs / elapsed))" "$execs" \
    "$(stat_of "$stats" edges_found)" "$(stat_of "$stats" corpus_count)" "${crashes:-?}" "${hangs:-?}")
  summary="$summary$line\n"
  if [ "${crashes:-1}" != 0 ] || [ "${hangs:-1}" != 0 ] || [ "$rc" -ne 0 ]; then
    status=1
    echo "fuzz: $t: FAILED (afl-fuzz exit $rc); inputs in $out/default/crashes and $out/default/hangs"
    for f in "$out"/default/crashes/id* "$out"/default/hangs/id*; do
      [ -f "$f" ] || continue
      echo "--- $f"
      ASAN_OPTIONS=detect_leaks=0 timeout 30 "$build/fuzz_$t" <"$f" 2>&1 | tail -n 15
    done
  fi
done

echo
echo "fuzz summary (${seconds}s per target)"
printf '%-10s %9s %11s %7s %7s %7s %7s\n' target execs/s execs edges paths crashes hangs
printf "$summary"
[ "$status" -eq 0 ] && echo "fuzz: no crash, no hang" || echo "fuzz: FAILED"
exit $status
