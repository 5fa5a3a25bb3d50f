# The boot demo on QEMU mps2-an386 (issue 15), included by the top-level
# Makefile after device/device.mk, whose libraries and key it uses.
#
#   make boot-demo   a bootloader and two application versions built here;
#                    the scenarios of device/boot/boot_demo.sh, one line each,
#                    ending "boot demo: N scenarios, N as expected"

DEMO_OUT      = $(DEVB)/boot-demo
DEV_BOOT_SRC  = $(sort $(wildcard boot/*.c))
DEV_BOOT_OBJ  = $(patsubst %.c,$(DEVB)/m4/obj/fwd/%.o,$(DEV_BOOT_SRC))
DEMO_FW_SRC   = device/fw/startup.c device/fw/stack.c device/fw/semihost.c device/boot/demo_board.c
DEMO_FW_OBJ   = $(patsubst %.c,$(DEVB)/m4/obj/fwd/%.o,$(DEMO_FW_SRC))
DEMO_BOOT_OBJ = $(DEVB)/m4/obj/fwd/device/boot/bootloader.o
DEMO_INC      = -Iboot -Idevice/fw -Idevice/boot -I$(DEVB)/gen
DEMO_LDFLAGS  = $(DEV_SPECS) -nostartfiles -Wl,--gc-sections -T device/boot/demo.ld
DEMO_LIBS     = $(DEVB)/m4/libfwdboot.a $(DEV_LIBS_m4)

$(DEV_BOOT_OBJ): DEV_FWD_DEFS += -Iboot
$(DEMO_FW_OBJ) $(DEMO_BOOT_OBJ): DEV_FWD_DEFS += $(DEMO_INC)
$(DEMO_FW_OBJ) $(DEMO_BOOT_OBJ): $(DEVB)/gen/fw_pubkey.h

$(DEVB)/m4/libfwdboot.a: $(DEV_BOOT_OBJ)
	@rm -f $@; $(DEV_AR) rcs $@ $^

# The application, once per version.
$(DEVB)/m4/obj/demo/app_v%.o: device/boot/app.c $(DEVB)/m4/workspace.txt $(DEVB)/gen/fw_pubkey.h $(DEV_FETCHED) \
                              $(wildcard device/boot/*.h boot/*.h apply/*.h common/*.h) device/boot/boot.mk
	@mkdir -p $(@D)
	$(DEV_CC) $(DEV_ARCH_m4) $(DEV_SPECS) $(DEV_WARN) $(DEV_FWD_DEFS) $(DEMO_INC) -DAPP_VERSION=$* \
	  -DFWD_APPLY_ZSTD_WORKSPACE=$$(cat $(DEVB)/m4/workspace.txt) -c $< -o $@

$(DEMO_OUT)/boot.elf: $(DEMO_BOOT_OBJ) $(DEMO_FW_OBJ) $(DEMO_LIBS) device/boot/demo.ld
	@mkdir -p $(@D)
	$(DEV_CC) $(DEV_ARCH_m4) $(DEMO_LDFLAGS) -Wl,--defsym=DEMO_ORIGIN=0 -Wl,-Map=$@.map -o $@ \
	  $(DEMO_BOOT_OBJ) $(DEMO_FW_OBJ) $(DEMO_LIBS)
	@./device/check_no_heap.sh $(DEV_NM) $@

$(DEMO_OUT)/app_v%.elf: $(DEVB)/m4/obj/demo/app_v%.o $(DEMO_FW_OBJ) $(DEMO_LIBS) device/boot/demo.ld
	@mkdir -p $(@D)
	$(DEV_CC) $(DEV_ARCH_m4) $(DEMO_LDFLAGS) -Wl,--defsym=DEMO_ORIGIN=0x100000 -Wl,-Map=$@.map -o $@ \
	  $< $(DEMO_FW_OBJ) $(DEMO_LIBS)
	@./device/check_no_heap.sh $(DEV_NM) $@

$(DEMO_OUT)/app_v%.bin: $(DEMO_OUT)/app_v%.elf
	$(DEV_OBJCOPY) -O binary $< $@

.PHONY: boot-demo boot-demo-build boot-demo-run
boot-demo: device
	@$(MAKE) --no-print-directory boot-demo-run

boot-demo-build: $(DEMO_OUT)/boot.elf $(DEMO_OUT)/app_v1.bin $(DEMO_OUT)/app_v2.bin

boot-demo-run: boot-demo-build $(CLI) $(DEVB)/keys/k.pem
	@./device/boot/boot_demo.sh $(DEVB) $(CLI)
