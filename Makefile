# fwdelta — see README.md. `make test` and `make demo` install what they need.
CC      ?= cc
BUILD   ?= build
CSTD     = -std=c11 -Wall -Wextra -Werror
OPT     ?= -O2 -g
# -fPIC: the same objects make the static and the shared libraries.
CFLAGS  += $(CSTD) $(OPT) -fPIC -Icommon -Iapply -Iboot -Igen -Isim
LDLIBS   = -lzstd -lmbedcrypto -ldivsufsort
PREFIX  ?= /usr/local
LIBDIR  ?= $(PREFIX)/lib
# Each shared library's ABI version is its header's API version.
api_version = $(shell sed -n 's/^\#define $(1) \([0-9]*\)u.*/\1/p' $(2))
SOMAJOR_APPLY := $(call api_version,FWD_APPLY_API_VERSION,apply/fwd_apply.h)
SOMAJOR_GEN   := $(call api_version,FWD_GEN_API_VERSION,gen/fwd_gen.h)

COMMON_SRC = $(wildcard common/*.c)
APPLY_SRC  = $(wildcard apply/*.c)
BOOT_SRC   = $(wildcard boot/*.c)
GEN_SRC    = $(wildcard gen/*.c)
SIM_SRC    = $(wildcard sim/*.c)
CLI_SRC    = $(wildcard cli/*.c)
TEST_SRC   = $(wildcard tests/test_*.c)
TEST_LIB   = tests/testlib.c

obj = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))

LIB_APPLY = $(BUILD)/libfwdapply.a
LIB_GEN   = $(BUILD)/libfwdgen.a
LIB_BOOT  = $(BUILD)/libfwdboot.a
SO_APPLY  = $(BUILD)/libfwdapply.so.$(SOMAJOR_APPLY)
SO_GEN    = $(BUILD)/libfwdgen.so.$(SOMAJOR_GEN)
CLI       = $(BUILD)/fwdelta
TESTS     = $(patsubst tests/%.c,$(BUILD)/tests/%,$(TEST_SRC))

# What users get: headers that compile on their own (fwd_apply.h needs only
# fwd_format.h and fwd_status.h), the device library and the host library.
PUBLIC_H  = apply/fwd_apply.h boot/fwd_boot.h gen/fwd_gen.h common/fwd_format.h common/fwd_status.h

.PHONY: all setup test test-build test-run check demo install clean
.SECONDARY:
all: $(CLI) $(LIB_APPLY) $(LIB_GEN) $(LIB_BOOT) $(SO_APPLY) $(SO_GEN)

setup:
	@./scripts/setup.sh build

$(BUILD)/obj/%.o: %.c $(wildcard */*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(LIB_APPLY): $(call obj,$(COMMON_SRC) $(APPLY_SRC))
	@rm -f $@; ar rcs $@ $^
$(LIB_GEN): $(call obj,$(COMMON_SRC) $(GEN_SRC))
	@rm -f $@; ar rcs $@ $^
# The boot module (boot/fwd_boot.h) links after the applier library, which
# carries common/.
$(LIB_BOOT): $(call obj,$(BOOT_SRC))
	@rm -f $@; ar rcs $@ $^
# The device library carries common/; the host library adds gen/ on top of it.
$(SO_APPLY): $(call obj,$(COMMON_SRC) $(APPLY_SRC))
	$(CC) -shared -Wl,-soname,$(notdir $@) -o $@ $^ -lzstd -lmbedcrypto
$(SO_GEN): $(call obj,$(GEN_SRC)) $(SO_APPLY)
	$(CC) -shared -Wl,-soname,$(notdir $@) -o $@ $(filter %.o,$^) -L$(BUILD) -l:$(notdir $(SO_APPLY)) \
	  -lzstd -lmbedcrypto -ldivsufsort
$(BUILD)/libfwdsim.a: $(call obj,$(SIM_SRC))
	@rm -f $@; ar rcs $@ $^

# The command is one static executable (static-pie: still loaded at a
# random address). Loading and relocating the shared libraries was a tenth
# of a small diff: zstd and mbedTLS 0.3 of 3.6 ms CPU, then glibc and
# libdivsufsort 0.7 of 5.6 ms wall (100 interleaved runs on P03). Debian
# ships libdivsufsort shared only, so its source package, at the installed
# version, is compiled here (scripts/fetch_src.sh, as the device build does
# for mbedTLS). libdivsufsort comes first: libzstd.a carries a divsufsort of
# its own (the dictionary builder's, with another signature). Sanitizers
# cannot link statically; CLI_STATIC=0 links the shared libraries.
CLI_STATIC ?= $(if $(findstring -fsanitize,$(OPT) $(CFLAGS)),0,1)
DSS_DIR = $(BUILD)/deps/divsufsort
DSS_LIB = $(DSS_DIR)/build/lib/libdivsufsort.a
ifeq ($(CLI_STATIC),1)
CLI_DEPS   = $(DSS_LIB)
CLI_LDLIBS = -static-pie $(DSS_LIB) -lzstd -lmbedcrypto
else
CLI_DEPS   =
CLI_LDLIBS = -ldivsufsort -Wl,-Bstatic -lzstd -lmbedcrypto -Wl,-Bdynamic
endif
$(CLI): $(call obj,$(CLI_SRC)) $(BUILD)/libfwdsim.a $(LIB_GEN) $(LIB_APPLY) $(CLI_DEPS)
	$(CC) $(CFLAGS) -o $@ $(filter-out $(CLI_DEPS),$^) $(CLI_LDLIBS)

$(DSS_LIB):
	@./scripts/fetch_src.sh $(BUILD)/deps divsufsort || { echo "make: the static command needs" \
	  "libdivsufsort's source (above); make CLI_STATIC=0 links the shared library instead" >&2; exit 1; }
	@cmake -S $(DSS_DIR) -B $(DSS_DIR)/build -Wno-dev -Wno-deprecated -DCMAKE_BUILD_TYPE=Release \
	  -DBUILD_SHARED_LIBS=OFF -DBUILD_EXAMPLES=OFF -DCMAKE_POSITION_INDEPENDENT_CODE=ON \
	  -DCMAKE_C_COMPILER=$(firstword $(CC)) -DCMAKE_C_FLAGS="$(wordlist 2,99,$(CC))" \
	  >$(DSS_DIR)/cmake.log 2>&1 || { cat $(DSS_DIR)/cmake.log; exit 1; }
	@$(MAKE) --no-print-directory -s -C $(DSS_DIR)/build divsufsort >$(DSS_DIR)/make.log 2>&1 || \
	  { cat $(DSS_DIR)/make.log; exit 1; }

$(BUILD)/tests/%: $(call obj,tests/%.c $(TEST_LIB)) $(BUILD)/libfwdsim.a $(LIB_BOOT) $(LIB_GEN) $(LIB_APPLY)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

# test_fit includes the fit's source to test its static Viterbi.
$(BUILD)/obj/tests/test_fit.o: gen/gen_model.c

# The CLI suite is a script run against build/fwdelta: installed beside the
# test binaries, so that run.sh runs and counts it like them.
$(BUILD)/tests/test_cli: tests/test_cli.sh
	@mkdir -p $(dir $@)
	cp $< $@ && chmod +x $@

# The small-profile applier (no zstd, 64 model entries, one residual set, as
# the device's small profile builds it): test_nozstd, testlib and the applier
# are compiled with it, the generator and common/ as always.
NOZSTD_OBJ = $(patsubst %.c,$(BUILD)/nozstd/%.o,$(APPLY_SRC) tests/test_nozstd.c $(TEST_LIB))
$(BUILD)/nozstd/%.o: %.c $(wildcard */*.h) Makefile
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -DFWD_APPLY_CODEC_ZSTD=0 -DFWD_APPLY_MODEL_ENTRIES=64 -DFWD_APPLY_RC_CONTEXTS=1 -c $< -o $@
$(BUILD)/tests/test_nozstd: $(NOZSTD_OBJ) $(BUILD)/libfwdsim.a $(LIB_GEN)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

# Runs every test binary; each prints its own "N passed, N failed" line.
# test-build only builds them (the -m32 stage on a machine that runs no i386
# programs).
TEST_SCRIPTS = $(BUILD)/tests/test_cli
test-build: $(TESTS) $(TEST_SCRIPTS) $(CLI)
test-run: test-build
	@./tests/run.sh $(BUILD)

# The fast inner loop (about a minute): the host suite without sanitizers,
# the corpus, QEMU or fuzzing. `make test` is what CI runs.
check:
	@./scripts/setup.sh check
	@$(MAKE) --no-print-directory -j2 $(TESTS) $(TEST_SCRIPTS) $(CLI)
	@FWDELTA_CORPUS=none ./tests/run.sh $(BUILD)

# Everything: the suite plain and under ASan+UBSan, the installed tree, the
# QEMU run, fuzzing.
test:
	@./scripts/setup.sh test
	@./scripts/test_all.sh

demo:
	@./scripts/setup.sh demo
	@$(MAKE) --no-print-directory all
	@./scripts/demo.sh $(BUILD)

# pkg-config: fwdelta-apply is the device library alone, fwdelta the host
# library (generator and applier).
install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/include/fwdelta $(DESTDIR)$(LIBDIR)/pkgconfig
	install -m 755 $(CLI) $(DESTDIR)$(PREFIX)/bin/
	install -m 644 $(PUBLIC_H) $(DESTDIR)$(PREFIX)/include/fwdelta/
	install -m 644 $(LIB_APPLY) $(LIB_GEN) $(LIB_BOOT) $(DESTDIR)$(LIBDIR)/
	install -m 755 $(SO_APPLY) $(SO_GEN) $(DESTDIR)$(LIBDIR)/
	ln -sf $(notdir $(SO_APPLY)) $(DESTDIR)$(LIBDIR)/libfwdapply.so
	ln -sf $(notdir $(SO_GEN)) $(DESTDIR)$(LIBDIR)/libfwdgen.so
	for pc in fwdelta:$(SOMAJOR_GEN) fwdelta-apply:$(SOMAJOR_APPLY); do \
	  sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' -e "s|@VERSION@|$${pc#*:}|" \
	    scripts/$${pc%:*}.pc.in > $(DESTDIR)$(LIBDIR)/pkgconfig/$${pc%:*}.pc; done
	install -d $(DESTDIR)$(PREFIX)/share/man/man1
	install -m 644 docs/fwdelta.1 $(DESTDIR)$(PREFIX)/share/man/man1/

clean:
	rm -rf build build-san build-m32 build-device build-fuzz

# Workstreams with their own rules: the device build (issue 5), the boot demo
# (issue 15), benchmarks (issue 6) and fuzzing (issue 7).
-include device/device.mk
-include device/boot/boot.mk
-include bench/bench.mk
-include tests/fuzz/fuzz.mk
