# Benchmarks (issue 6): see bench/README.md. Included by the top-level Makefile.
#
#   make bench                      corpus + synthetic pairs, then the scale run
#   make bench BENCH_REPS=5         more repetitions (median reported)
#   make bench BENCH_SPEED_REPS=21  more back-to-back runs for the generator's time against bsdiff's
#   make bench BENCH_SPEED_SECONDS=3 and on until that many seconds per pair (the small pairs)
#   make bench BENCH_SCALE=0        without the scale run
#   make bench BENCH_PAIRS="P10 S01" only these pairs (quick checks)
#   make bench-scale                only the scale run (BENCH_SCALE_SIZES="16 64 256" MiB, and the
#                                   pathological shapes at BENCH_SHAPE_SIZES="16 64 256" MiB;
#                                   pairs of 256 MiB run BENCH_BIG_REPS=1 times: bsdiff takes
#                                   about 25 minutes on one)

BENCH_REPS        ?= 3
BENCH_SPEED_REPS  ?= 11
BENCH_SPEED_SECONDS ?= 3
BENCH_SCALE       ?= 1
BENCH_SCALE_SIZES ?= 16 64 256
BENCH_SHAPE_SIZES ?= 16 64 256
BENCH_SCALE_REPS  ?=
BENCH_BIG_REPS    ?= 1
BENCH_PAIRS       ?=
BENCH_PYTHON      ?= /usr/bin/python3
BENCH_GENDATA      = $(BUILD)/bench/gendata
BENCH_ENV          = BENCH_REPS="$(BENCH_REPS)" BENCH_SPEED_REPS="$(BENCH_SPEED_REPS)" \
                     BENCH_SPEED_SECONDS="$(BENCH_SPEED_SECONDS)" BENCH_SCALE_SIZES="$(BENCH_SCALE_SIZES)" \
                     BENCH_SHAPE_SIZES="$(BENCH_SHAPE_SIZES)" BENCH_SCALE_REPS="$(BENCH_SCALE_REPS)" \
                     BENCH_BIG_REPS="$(BENCH_BIG_REPS)" BENCH_PAIRS="$(BENCH_PAIRS)"
BENCH_RUN          = $(BENCH_ENV) $(BENCH_PYTHON) bench/bench.py --fwdelta $(CLI) --gendata $(BENCH_GENDATA)

.PHONY: bench bench-scale bench-build

# The data generator is a host tool: plain cc, no project flags or libraries.
$(BENCH_GENDATA): bench/gendata.c
	@mkdir -p $(dir $@)
	$(CC) -std=c11 -O2 -Wall -Wextra -Werror -o $@ $<

bench-build: $(CLI) $(BENCH_GENDATA)

# Setup first (it installs the build dependencies too), then build, then run:
# sub-makes keep that order even under -j.
bench:
	@./scripts/setup.sh bench
	@$(MAKE) --no-print-directory bench-build
	@$(BENCH_RUN) --scale $(if $(filter 0 no false,$(BENCH_SCALE)),no,yes)

bench-scale:
	@./scripts/setup.sh bench
	@$(MAKE) --no-print-directory bench-build
	@$(BENCH_RUN) --scale only
