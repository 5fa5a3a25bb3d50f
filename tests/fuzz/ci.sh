#!/bin/sh
# CI entry point for fuzzing: the same as `make fuzz`, FUZZ_SECONDS per
# target (make test passes 90 in CI; 120 when called alone), six targets.
# Non-zero exit on any crash or hang; the inputs stay in build-fuzz/out/.
set -eu
cd "$(dirname "$0")/../.."
exec make --no-print-directory -j2 fuzz FUZZ_SECONDS="${FUZZ_SECONDS:-120}"
