# fwdelta — see README.md. `make test` and `make demo` install what they need.
CC      ?= cc
BUILD   ?= build
CSTD     = -std=c11 -Wall -Wextra -Werror
OPT     ?= -O2 -g
CFLAGS  += $(CSTD) $(OPT) -Icommon -Iapply -Iboot -Igen -Isim
LDLIBS   = -lzstd -lmbedcrypto -ldivsufsort
PREFIX  ?= /usr/local

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
CLI       = $(BUILD)/fwdelta
TESTS     = $(patsubst tests/%.c,$(BUILD)/tests/%,$(TEST_SRC))

.PHONY: all setup test test-run demo install clean
.SECONDARY:
all: $(CLI) $(LIB_APPLY) $(LIB_GEN) $(LIB_BOOT)

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
$(BUILD)/libfwdsim.a: $(call obj,$(SIM_SRC))
	@rm -f $@; ar rcs $@ $^

$(CLI): $(call obj,$(CLI_SRC)) $(BUILD)/libfwdsim.a $(LIB_GEN) $(LIB_APPLY)
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/%: $(call obj,tests/%.c $(TEST_LIB)) $(BUILD)/libfwdsim.a $(LIB_BOOT) $(LIB_GEN) $(LIB_APPLY)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

# Runs every test binary; each prints its own "N passed, N failed" line.
test-run: $(TESTS) $(CLI)
	@./tests/run.sh $(BUILD)

# The whole suite, plain and under ASan+UBSan.
# Everything: the suite plain and under ASan+UBSan, the QEMU run, fuzzing.
test:
	@./scripts/setup.sh test
	@./scripts/test_all.sh

demo:
	@./scripts/setup.sh demo
	@$(MAKE) --no-print-directory all
	@./scripts/demo.sh $(BUILD)

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/include/fwdelta $(DESTDIR)$(PREFIX)/lib/pkgconfig
	install -m 755 $(CLI) $(DESTDIR)$(PREFIX)/bin/
	install -m 644 apply/fwd_apply.h boot/fwd_boot.h gen/fwd_gen.h common/fwd_format.h common/fwd_status.h $(DESTDIR)$(PREFIX)/include/fwdelta/
	install -m 644 $(LIB_APPLY) $(LIB_GEN) $(LIB_BOOT) $(DESTDIR)$(PREFIX)/lib/
	sed -e 's|@PREFIX@|$(PREFIX)|' scripts/fwdelta.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/fwdelta.pc

clean:
	rm -rf build build-san build-device build-fuzz

# Workstreams with their own rules: the device build (issue 5), the boot demo
# (issue 15), benchmarks (issue 6) and fuzzing (issue 7).
-include device/device.mk
-include device/boot/boot.mk
-include bench/bench.mk
-include tests/fuzz/fuzz.mk
