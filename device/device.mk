# Device build (issue 5), included by the top-level Makefile. docs/DEVICE.md
# explains the choices and the measurements.
#
#   make device        the applier, zstd's decoder and mbedTLS's SHA-256 and
#                      ECDSA verify as static libraries for Cortex-M4 and
#                      Cortex-M0+ (build-device/{m4,m0plus}/*.a), plus the
#                      QEMU test firmware for mps2-an386
#   make device-test   one apply under QEMU; prints "1 passed, 0 failed"
#   make bench-device  RAM, code and instructions per byte: bench/results/device.md
#   make sample-fw     the demo firmware pair: build/sample/v1.bin, v2.bin
#
# zstd and mbedTLS are Debian's source packages at the versions the host links
# (scripts/fetch_src.sh), fetched at build time into build-device/src.

DEVB        ?= build-device
DEV_CROSS   ?= arm-none-eabi-
DEV_CC       = $(DEV_CROSS)gcc
DEV_AR       = $(DEV_CROSS)ar
DEV_NM       = $(DEV_CROSS)nm
DEV_OBJCOPY  = $(DEV_CROSS)objcopy
DEV_CPUS     = m4 m0plus
DEV_ARCH_m4      = -mcpu=cortex-m4 -mthumb -Os -ffunction-sections -fdata-sections
DEV_ARCH_m0plus  = -mcpu=cortex-m0plus -mthumb -Os -ffunction-sections -fdata-sections
DEV_SPECS    = --specs=nano.specs
DEV_LDFLAGS  = $(DEV_SPECS) -nostartfiles -Wl,--gc-sections -T device/fw/mps2_an386.ld

# Capacities: the generator's defaults, a 4 KiB zstd window and 4 KiB blocks,
# with room for payloads of up to 4096 + 512 bytes (the default is 4096 + 128). The zstd workspace is measured
# from the zstd build itself (device/probe_dctx.c).
DEV_WINDOW_LOG  = 12
DEV_MAX_PAYLOAD ?= 4608
# The build of `make device` carries zstd (devices that already do); the
# profiles bench-device measures beside it decode the range coder only.
DEV_PROFILE_DEFS ?= -DFWD_APPLY_CODEC_ZSTD=1

DEV_SRCROOT ?= $(DEVB)/src
DEV_ZSTD    = $(DEV_SRCROOT)/zstd/lib
DEV_MBED    = $(DEV_SRCROOT)/mbedtls
DEV_FETCHED = $(DEV_SRCROOT)/zstd/.fwd-version $(DEV_SRCROOT)/mbedtls/.fwd-version

# Decoder only, literals always in zstd's own buffer (the applier's ring
# relies on it: apply/apply_decode.c), smallest tables and code.
DEV_ZSTD_DEFS = '-DZSTD_DECODER_INTERNAL_BUFFER=(1<<$(DEV_WINDOW_LOG))' -DHUF_FORCE_DECOMPRESS_X1 \
                -DZSTD_FORCE_DECOMPRESS_SEQUENCES_SHORT -DZSTD_NO_INLINE -DZSTD_STRIP_ERROR_STRINGS \
                -DZSTD_LEGACY_SUPPORT=0 -DZSTD_DISABLE_ASM -DDYNAMIC_BMI2=0 -DXXH_NAMESPACE=ZSTD_ \
                -include device/zstd_no_heap.h
# DEV_MBED_EXTRA=-DFWD_SHA256_UNROLLED selects the faster, larger SHA-256
# (bench-device measures both; use its own DEVB).
DEV_MBED_EXTRA ?=
DEV_MBED_DEFS = '-DMBEDTLS_CONFIG_FILE="mbedtls_device_config.h"' -Idevice -I$(DEV_MBED)/include $(DEV_MBED_EXTRA)
# FWD_CRYPTO_LENT_HEAP: the applier lends mbedTLS its idle payload buffer
# while it verifies or unwraps (common/fwd_crypto.h), so no pool is needed.
DEV_FWD_DEFS  = -DFWD_DEVICE -DFWD_CRYPTO_LENT_HEAP=1 -DFWD_APPLY_MAX_WINDOW_LOG=$(DEV_WINDOW_LOG) -DFWD_APPLY_MAX_PAYLOAD=$(DEV_MAX_PAYLOAD) \
                -DFWD_APPLY_MAX_KEYS=1 $(DEV_PROFILE_DEFS) $(DEV_MBED_DEFS) -Icommon -Iapply -I$(DEV_ZSTD) \
                -idirafter $(DEVB)/include
DEV_WARN      = -std=c11 -Wall -Wextra -Werror -MMD -MP
# Third-party code is compiled as Debian ships it, without our -Werror.
DEV_THIRD     = -std=c11 -DNDEBUG

# Every shared primitive in common/ is the applier's too (status, format,
# crypto, and as they arrive encryption and the prediction model).
DEV_FWD_SRC  = $(sort $(wildcard apply/*.c common/*.c))
DEV_ZSTD_SRC = common/entropy_common.c common/error_private.c common/fse_decompress.c common/zstd_common.c \
               common/xxhash.c common/debug.c decompress/huf_decompress.c decompress/zstd_ddict.c \
               decompress/zstd_decompress.c decompress/zstd_decompress_block.c
DEV_MBED_SRC = sha256 bignum ecp ecp_curves ecdsa platform platform_util memory_buffer_alloc constant_time \
               asn1parse asn1write aes md hkdf

# The profiling firmware charges instructions to the part of the applier
# running (device/fw/prof.c); these are the calls it intercepts.
DEV_PROF_WRAPS = fwd_verify_signature fwd_ecdsa_p256_verify mbedtls_sha256_starts_ret mbedtls_sha256_update_ret \
                 mbedtls_sha256_finish_ret mbedtls_sha256_ret fwd_hash_area fwd_decode_payload \
                 ZSTD_initStaticDCtx ZSTD_getFrameHeader ZSTD_decompressBegin ZSTD_nextSrcSizeToDecompress \
                 ZSTD_decompressContinue fwd_ops_begin fwd_ops_feed fwd_ops_value fwd_ops_end fwd_out_begin fwd_out_emit \
                 fwd_out_end fwd_journal_load fwd_journal_start fwd_journal_checkpoint fwd_journal_end \
                 mbedtls_memory_buffer_alloc_init mbedtls_memory_buffer_alloc_free

DEV_HOST_CFLAGS = -std=c11 -Wall -Wextra -Werror -O2
DEV_COMMA := ,

.PHONY: device device-build device-profile device-test device-test-run bench-device bench-device-run sample-fw

device:
	@./scripts/setup.sh device
	@./scripts/fetch_src.sh $(DEV_SRCROOT) zstd mbedtls
	@$(MAKE) --no-print-directory device-build

device-test: device
	@$(MAKE) --no-print-directory device-test-run

# The bench also builds the SHA-256 alternative, to measure what it trades,
# and the two range-coder device profiles (README, "Device profiles"; no
# zstd, 64 model map entries, encryption built in, payload = block + 128):
# default (4 KiB blocks, four residual sets) and small (1 KiB blocks on the
# board's 4 KiB sectors, one residual set). Without zstd's 18 KB their 32 KiB
# code budget affords the unrolled SHA-256 (+1.4 KB, about 40 instructions per
# output byte less): they use it.
DEV_VARIANT_SHA = $(DEVB)/variant-sha256-unrolled
DEV_PROFILE_DIR = $(DEVB)/profile
DEV_PROFILE_default = -DFWD_APPLY_CODEC_ZSTD=0 -DFWD_APPLY_MODEL_ENTRIES=64
DEV_PROFILE_small   = -DFWD_APPLY_CODEC_ZSTD=0 -DFWD_APPLY_MODEL_ENTRIES=64 -DFWD_APPLY_RC_CONTEXTS=1 \
                      -DBOARD_BLOCK_SIZE=1024
DEV_PROFILE_MBED    = -DFWD_SHA256_UNROLLED
bench-device: device
	@$(MAKE) --no-print-directory device-build DEVB=$(DEV_VARIANT_SHA) DEV_SRCROOT=$(DEV_SRCROOT) \
	  DEV_MBED_EXTRA=-DFWD_SHA256_UNROLLED
	@$(MAKE) --no-print-directory device-profile DEVB=$(DEV_PROFILE_DIR)-default DEV_SRCROOT=$(DEV_SRCROOT) \
	  DEV_MAX_PAYLOAD=4224 DEV_PROFILE_DEFS="$(DEV_PROFILE_default)" DEV_MBED_EXTRA="$(DEV_PROFILE_MBED)"
	@$(MAKE) --no-print-directory device-profile DEVB=$(DEV_PROFILE_DIR)-small DEV_SRCROOT=$(DEV_SRCROOT) \
	  DEV_MAX_PAYLOAD=1152 DEV_PROFILE_DEFS="$(DEV_PROFILE_small)" DEV_MBED_EXTRA="$(DEV_PROFILE_MBED)"
	@$(MAKE) --no-print-directory bench-device-run

# ---- libraries, per CPU ----------------------------------------------------

define DEV_CPU_RULES
DEV_FWD_OBJ_$(1)  = $(patsubst %.c,$(DEVB)/$(1)/obj/fwd/%.o,$(DEV_FWD_SRC))
DEV_ZSTD_OBJ_$(1) = $(patsubst %.c,$(DEVB)/$(1)/obj/zstd/%.o,$(DEV_ZSTD_SRC))
DEV_MBED_OBJ_$(1) = $(patsubst %,$(DEVB)/$(1)/obj/mbedtls/%.o,$(DEV_MBED_SRC))
DEV_LIBS_$(1)     = $(DEVB)/$(1)/libfwdapply.a $(DEVB)/$(1)/libzstddec.a $(DEVB)/$(1)/libfwdmbedtls.a

$(DEVB)/$(1)/obj/zstd/%.o: $(DEV_ZSTD)/%.c $(DEV_FETCHED) device/device.mk device/zstd_no_heap.h
	@mkdir -p $$(@D)
	$(DEV_CC) $(DEV_ARCH_$(1)) $(DEV_SPECS) $(DEV_THIRD) $(DEV_ZSTD_DEFS) -c $$< -o $$@

$(DEVB)/$(1)/obj/mbedtls/%.o: $(DEV_MBED)/library/%.c device/mbedtls_device_config.h $(DEV_FETCHED) device/device.mk
	@mkdir -p $$(@D)
	$(DEV_CC) $(DEV_ARCH_$(1)) $(DEV_SPECS) $(DEV_THIRD) $(DEV_MBED_DEFS) -c $$< -o $$@

$(DEVB)/$(1)/obj/probe_dctx.o: device/probe_dctx.c $(DEV_FETCHED) device/device.mk
	@mkdir -p $$(@D)
	$(DEV_CC) $(DEV_ARCH_$(1)) $(DEV_SPECS) $(DEV_THIRD) $(DEV_ZSTD_DEFS) -I$(DEV_ZSTD)/decompress -c $$< -o $$@

# sizeof(ZSTD_DCtx) of this zstd build, rounded up: FWD_APPLY_ZSTD_WORKSPACE.
$(DEVB)/$(1)/zstd_sizes.txt: $(DEVB)/$(1)/obj/probe_dctx.o device/probe_sizes.sh
	./device/probe_sizes.sh $(DEV_NM) $$< > $$@.tmp && mv $$@.tmp $$@
$(DEVB)/$(1)/workspace.txt: $(DEVB)/$(1)/zstd_sizes.txt
	awk '$$$$1 == "workspace" { print $$$$2 }' $$< > $$@

$(DEVB)/$(1)/obj/fwd/%.o: %.c $(DEVB)/$(1)/workspace.txt $(DEV_FETCHED) $(DEVB)/include/xxhash.h \
                         device/device.mk device/mbedtls_device_config.h
	@mkdir -p $$(@D)
	$(DEV_CC) $(DEV_ARCH_$(1)) $(DEV_SPECS) $(DEV_WARN) $$(DEV_FWD_DEFS) \
	  -DFWD_APPLY_ZSTD_WORKSPACE=$$$$(cat $(DEVB)/$(1)/workspace.txt) -c $$< -o $$@

$(DEVB)/$(1)/libfwdapply.a: $$(DEV_FWD_OBJ_$(1))
	@rm -f $$@; $(DEV_AR) rcs $$@ $$^
$(DEVB)/$(1)/libzstddec.a: $$(DEV_ZSTD_OBJ_$(1))
	@rm -f $$@; $(DEV_AR) rcs $$@ $$^
$(DEVB)/$(1)/libfwdmbedtls.a: $$(DEV_MBED_OBJ_$(1))
	@rm -f $$@; $(DEV_AR) rcs $$@ $$^

# The smallest real integration, linked like a product: code size and the
# proof that no heap allocator is pulled in.
$(DEVB)/$(1)/sizeprobe.elf: $(DEVB)/$(1)/obj/fwd/device/sizeprobe.o $$(DEV_LIBS_$(1)) device/fw/mps2_an386.ld
	$(DEV_CC) $(DEV_ARCH_$(1)) $(DEV_LDFLAGS) -Wl,-Map=$$@.map -o $$@ $$< $$(DEV_LIBS_$(1))
	@./device/check_no_heap.sh $(DEV_NM) $$@
endef
$(foreach c,$(DEV_CPUS),$(eval $(call DEV_CPU_RULES,$(c))))

# xxHash is header-only; the cross compiler sees the host's copy, and only it.
$(DEVB)/include/xxhash.h: /usr/include/xxhash.h
	@mkdir -p $(@D)
	ln -sf $< $@

$(DEV_FETCHED) &:
	./scripts/fetch_src.sh $(DEV_SRCROOT) zstd mbedtls

# ---- QEMU test firmware (mps2-an386, Cortex-M4) ----------------------------
# fw.elf runs the real applier and reports; fw-prof.elf adds the per-part
# instruction split. The M0+ build of fw.elf runs on the same M4 model
# (ARMv6-M code is a subset of ARMv7-M): a functional check of the M0+
# libraries and their instruction count.

DEV_FW_SRC  = device/fw/startup.c device/fw/stack.c device/fw/semihost.c device/fw/icount.c \
              device/fw/nor.c device/fw/report.c device/fw/main.c
DEV_FW_PROF = $(DEVB)/m4/obj/fwd/device/fw/prof.o

define DEV_FW_RULES
DEV_FW_OBJ_$(1) = $(patsubst %.c,$(DEVB)/$(1)/obj/fwd/%.o,$(DEV_FW_SRC))
$$(DEV_FW_OBJ_$(1)): DEV_FWD_DEFS += -Idevice/fw -I$(DEVB)/gen
$$(DEV_FW_OBJ_$(1)): $(DEVB)/gen/fw_pubkey.h $(DEVB)/gen/fw_devkey.h

$(DEVB)/$(1)/fw.elf: $$(DEV_FW_OBJ_$(1)) $$(DEV_LIBS_$(1)) device/fw/mps2_an386.ld device/device.mk
	$(DEV_CC) $(DEV_ARCH_$(1)) $(DEV_LDFLAGS) -Wl,-Map=$$@.map -o $$@ $$(DEV_FW_OBJ_$(1)) $$(DEV_LIBS_$(1))
	@./device/check_no_heap.sh $(DEV_NM) $$@
endef
$(foreach c,$(DEV_CPUS),$(eval $(call DEV_FW_RULES,$(c))))

$(DEV_FW_PROF): DEV_FWD_DEFS += -Idevice/fw -I$(DEVB)/gen
$(DEV_FW_PROF): $(DEVB)/gen/fw_pubkey.h $(DEVB)/gen/fw_devkey.h

$(DEVB)/m4/fw-prof.elf: $(DEV_FW_OBJ_m4) $(DEV_FW_PROF) $(DEV_LIBS_m4) device/fw/mps2_an386.ld device/device.mk
	$(DEV_CC) $(DEV_ARCH_m4) $(DEV_LDFLAGS) -Wl,-Map=$@.map $(addprefix -Wl$(DEV_COMMA)--wrap=,$(DEV_PROF_WRAPS)) \
	  -o $@ $(DEV_FW_OBJ_m4) $(DEV_FW_PROF) $(DEV_LIBS_m4)
	@./device/check_no_heap.sh $(DEV_NM) $@

# The signing key is made at build time, never committed; the firmware
# carries its public half.
$(DEVB)/keys/k.pem: | $(CLI)
	@mkdir -p $(@D)
	$(CLI) keygen -o $@
$(DEVB)/keys/k.pub.pem: $(DEVB)/keys/k.pem

# The firmware's trusted key, as any product would get it: `fwdelta key pub --c`.
$(DEVB)/gen/fw_pubkey.h: $(DEVB)/keys/k.pub.pem $(CLI)
	@mkdir -p $(@D)
	$(CLI) key pub --c --name fw_pubkey $< > $@.tmp && mv $@.tmp $@

# The board's own key, so that it takes encrypted patches too: a device key
# (`fwdelta keygen --device`) whose scalar the firmware carries (`fwdelta key priv --c`).
$(DEVB)/keys/dev.pem: | $(CLI)
	@mkdir -p $(@D)
	$(CLI) keygen --device -o $@
$(DEVB)/keys/dev.pub.pem: $(DEVB)/keys/dev.pem
$(DEVB)/gen/fw_devkey.h: $(DEVB)/keys/dev.pem $(CLI)
	@mkdir -p $(@D)
	$(CLI) key priv --c --name fw_device_key $< > $@.tmp && mv $@.tmp $@

$(DEVB)/host/fwdq: device/host/fwdq.c device/fw/qemu_params.h $(BUILD)/libfwdgen.a
	@mkdir -p $(@D)
	$(CC) $(DEV_HOST_CFLAGS) -Icommon -Igen -Idevice/fw -o $@ $< $(BUILD)/libfwdgen.a $(LDLIBS)

# A profile: sizeprobe and fw.elf per CPU, and the M4 profiling build (the
# split by part).
device-profile: $(foreach c,$(DEV_CPUS),$(DEV_LIBS_$(c)) $(DEVB)/$(c)/sizeprobe.elf $(DEVB)/$(c)/fw.elf) \
                $(DEVB)/m4/fw-prof.elf

device-build: $(foreach c,$(DEV_CPUS),$(DEV_LIBS_$(c)) $(DEVB)/$(c)/sizeprobe.elf $(DEVB)/$(c)/fw.elf) \
              $(DEVB)/m4/fw-prof.elf
	@echo "device: libraries in $(foreach c,$(DEV_CPUS),$(DEVB)/$(c)/); zstd workspace $$(cat $(DEVB)/m4/workspace.txt) B"

-include $(wildcard $(DEVB)/*/obj/fwd/*/*.d $(DEVB)/*/obj/fwd/*/*/*.d)

# ---- runs -------------------------------------------------------------------

device-test-run: $(CLI) $(DEVB)/host/fwdq $(DEVB)/m4/fw.elf $(DEVB)/keys/k.pem $(DEVB)/keys/dev.pub.pem sample-fw
	@./device/device_test.sh $(DEVB) $(CLI) $(BUILD)/sample

bench-device-run: $(CLI) $(DEVB)/host/fwdq $(DEVB)/m4/fw-prof.elf $(DEVB)/keys/k.pem \
                  $(foreach c,$(DEV_CPUS),$(DEVB)/$(c)/sizeprobe.elf $(DEVB)/$(c)/fw.elf) \
                  $(foreach w,10 11 12,$(DEVB)/m4/zstd_sizes_w$(w).txt) sample-fw
	@./device/bench_device.sh $(DEVB) $(CLI) $(BUILD)/sample $(DEV_VARIANT_SHA) bench/results/device.md

# sizeof(ZSTD_DCtx) at other windows (the literal buffer follows the window),
# for the RAM-versus-window table.
$(DEVB)/m4/zstd_sizes_w%.txt: device/probe_dctx.c device/probe_sizes.sh device/zstd_no_heap.h $(DEV_FETCHED) \
                              device/device.mk
	$(DEV_CC) $(DEV_ARCH_m4) $(DEV_SPECS) $(DEV_THIRD) $(subst (1<<$(DEV_WINDOW_LOG)),(1<<$*),$(DEV_ZSTD_DEFS)) \
	  -I$(DEV_ZSTD)/decompress -c $< -o $(@:.txt=.o)
	./device/probe_sizes.sh $(DEV_NM) $(@:.txt=.o) > $@.tmp && mv $@.tmp $@

# ---- demo firmware pair -----------------------------------------------------

# The sample links the device libraries (its update client is the applier),
# so it is the size of a real product's image.
DEV_SAMPLE_SRC = $(sort $(wildcard corpus/sample/*.c))
DEV_SAMPLE_LIBS = $(DEVB)/m4/libfwdapply.a $(DEVB)/m4/libzstddec.a $(DEVB)/m4/libfwdmbedtls.a
DEV_SAMPLE_CFLAGS = -mcpu=cortex-m4 -mthumb -Os -ffunction-sections -fdata-sections $(DEV_SPECS) -std=c11 \
                    -Wall -Wextra -Werror -nostartfiles -Wl,--gc-sections -Wl,--build-id=none \
                    -T corpus/sample/sample.ld $(DEV_FWD_DEFS) \
                    -DFWD_APPLY_ZSTD_WORKSPACE=$$(cat $(DEVB)/m4/workspace.txt)

sample-fw: $(BUILD)/sample/v1.bin $(BUILD)/sample/v2.bin
.PRECIOUS: $(BUILD)/sample/%.elf

$(BUILD)/sample/v%.elf: $(DEV_SAMPLE_SRC) $(wildcard corpus/sample/*.h) corpus/sample/sample.ld $(DEV_SAMPLE_LIBS)
	@mkdir -p $(@D)
	$(DEV_CC) $(DEV_SAMPLE_CFLAGS) -DFW_VERSION=$* -o $@ $(DEV_SAMPLE_SRC) $(DEV_SAMPLE_LIBS)

$(BUILD)/sample/v%.bin: $(BUILD)/sample/v%.elf
	$(DEV_OBJCOPY) -O binary $< $@
