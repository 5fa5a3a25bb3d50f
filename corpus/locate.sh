#!/bin/sh
# Prints the directory holding the real firmware corpus that corpus/manifest.tsv
# names: $FWDELTA_CORPUS if set, else ../shared/corpus beside the repository.
# Exits 1 (printing nothing) when neither exists, or FWDELTA_CORPUS=none;
# callers then skip, visibly.
here=$(cd "$(dirname "$0")" && pwd)
[ "${FWDELTA_CORPUS:-}" = none ] && exit 1 # make check: the corpus left out on purpose
for dir in "${FWDELTA_CORPUS:-}" "$here/../../shared/corpus"; do
  [ -n "$dir" ] && [ -f "$dir/manifest.tsv" ] && { (cd "$dir" && pwd); exit 0; }
done
exit 1
