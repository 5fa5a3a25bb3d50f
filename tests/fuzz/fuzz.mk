# Coverage-guided fuzzing (issue 7), included by the top Makefile.
#
#   make fuzz [FUZZ_SECONDS=120] [FUZZ_TARGETS="apply journal header roundtrip decode encrypted"]
#     installs AFL++ (scripts/setup.sh fuzz), builds the targets of tests/fuzz/
#     with afl-clang-fast, ASan and UBSan into build-fuzz/, writes their seeds,
#     and runs each target for FUZZ_SECONDS; fails on any crash or hang.
#
#   make test
#     also builds tests/test_fuzz_regressions, which replays
#     tests/fuzz/regressions/<target>/* through a plain build of the same
#     target code, and tests/test_release_build, which checks that the release
#     library has no fuzzing bypass in it.
#
# The fuzzing builds compile the applier with FWD_FUZZING_UNSAFE_SKIP_SIGNATURE
# (apply_header.c): such objects only ever go to build-fuzz/ or to
# $(BUILD)/fuzz-unsafe/, never into $(LIB_APPLY).

FUZZ_BUILD    ?= build-fuzz
FUZZ_SECONDS  ?= 120
FUZZ_TARGETS  ?= apply journal header roundtrip decode encrypted
FUZZ_CC       ?= afl-clang-fast
FUZZ_UNSAFE    = -DFWD_FUZZING_UNSAFE_SKIP_SIGNATURE=1 -DFUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION=1
FUZZ_ALL       = apply journal header roundtrip decode encrypted
FUZZ_HELPER    = tests/fuzz/fuzz_common.c
FUZZ_HDR       = $(wildcard */*.h) $(wildcard tests/fuzz/*.h)

# --- AFL++ build: every object instrumented and sanitized -------------------
FUZZ_ENV    = AFL_USE_ASAN=1 AFL_USE_UBSAN=1 AFL_QUIET=1
FUZZ_CFLAGS = $(CSTD) -O1 -g -fno-omit-frame-pointer -Icommon -Iapply -Igen -Isim $(FUZZ_UNSAFE)
FUZZ_OBJ    = $(patsubst %.c,$(FUZZ_BUILD)/obj/%.o,$(FUZZ_HELPER) $(TEST_LIB) $(COMMON_SRC) $(APPLY_SRC) $(GEN_SRC) $(SIM_SRC))
FUZZ_BINS   = $(patsubst %,$(FUZZ_BUILD)/fuzz_%,$(FUZZ_TARGETS))

.PHONY: fuzz fuzz-build
fuzz:
	@./scripts/setup.sh fuzz
	@$(MAKE) --no-print-directory fuzz-build
	@./tests/fuzz/run.sh $(FUZZ_BUILD) $(FUZZ_SECONDS) $(FUZZ_TARGETS)

fuzz-build: $(FUZZ_BINS) $(FUZZ_BUILD)/seeds/.done

$(FUZZ_BUILD)/obj/%.o: %.c $(FUZZ_HDR)
	@mkdir -p $(dir $@)
	$(FUZZ_ENV) $(FUZZ_CC) $(FUZZ_CFLAGS) -c $< -o $@

# Only the target files carry the persistent-mode main.
$(patsubst %,$(FUZZ_BUILD)/obj/tests/fuzz/fuzz_%.o,$(FUZZ_ALL)): FUZZ_CFLAGS += -DFUZZ_AFL_MAIN

# fuzz_seeds is built the same way: it runs the same fixtures as the targets.
$(FUZZ_BUILD)/fuzz_%: $(FUZZ_BUILD)/obj/tests/fuzz/fuzz_%.o $(FUZZ_OBJ)
	$(FUZZ_ENV) $(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ $^ $(LDLIBS)

# Seeds are signed with a key made here on first use, never committed.
$(FUZZ_BUILD)/seeds/.done: $(FUZZ_BUILD)/fuzz_seeds
	@rm -rf $(FUZZ_BUILD)/seeds
	@FWD_FUZZ_KEY=$(FUZZ_BUILD)/fuzz-key.pem ASAN_OPTIONS=detect_leaks=0 \
		$< $(FUZZ_BUILD)/seeds $$(./corpus/locate.sh || true)
	@touch $@

# --- make test: replay the regression inputs without AFL --------------------
FUZZ_REPLAY_SRC = tests/test_fuzz_regressions.c $(TEST_LIB) $(FUZZ_HELPER) $(patsubst %,tests/fuzz/fuzz_%.c,$(FUZZ_ALL))
FUZZ_UNSAFE_OBJ = $(patsubst %.c,$(BUILD)/fuzz-unsafe/%.o,$(APPLY_SRC))

$(BUILD)/fuzz-unsafe/%.o: %.c $(FUZZ_HDR)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(FUZZ_UNSAFE) -c $< -o $@

$(call obj,$(FUZZ_REPLAY_SRC)): $(FUZZ_HDR)

# Instead of the pattern rule: the applier without the signature check, as
# the fuzzer ran it, and no $(LIB_APPLY).
$(BUILD)/tests/test_fuzz_regressions: $(call obj,$(FUZZ_REPLAY_SRC)) $(FUZZ_UNSAFE_OBJ) $(BUILD)/libfwdsim.a $(LIB_GEN)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)
