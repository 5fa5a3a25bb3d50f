/* The boot demo on QEMU's mps2-an386: one bootloader and two application
 * versions built by the project, sharing this board description.
 *
 * Flash is emulated in PSRAM and persisted across power-ons through a host
 * file (flash.bin, semihosting): every QEMU run is one power-on, and a
 * "reset" or a power cut writes flash.bin and exits, the host script starts
 * the next run. Images execute from DEMO_EXEC: the bootloader's activation
 * copies the chosen slot there (the single-execution-slot pattern).
 *
 * What each power-on does comes from run.txt: "<action> <boot cut> <app cut>
 * <cut mode>", e.g. "U 0 1 b": the application updates, and the first state
 * write the application makes is cut before it happens ('t': torn, half of
 * it programmed). Cuts count the boot module's state-area programs and
 * erases, separately for the bootloader and the application. */
#ifndef DEMO_H
#define DEMO_H

#include <stdint.h>

#include "fwd_apply.h"
#include "fwd_boot.h"

#define DEMO_FLASH 0x21000000u
#define DEMO_SECTOR 4096u
#define DEMO_PROG_UNIT 8u
#define DEMO_SLOT_SIZE 0x20000u
#define DEMO_SLOT(i) (DEMO_FLASH + (i) * DEMO_SLOT_SIZE)
#define DEMO_JOURNAL (DEMO_FLASH + 2u * DEMO_SLOT_SIZE)
#define DEMO_JOURNAL_SIZE (4u * DEMO_SECTOR)
#define DEMO_STATE (DEMO_JOURNAL + DEMO_JOURNAL_SIZE)
#define DEMO_STATE_SIZE (2u * DEMO_SECTOR)
#define DEMO_FLASH_SIZE (DEMO_STATE + DEMO_STATE_SIZE - DEMO_FLASH)
#define DEMO_PATCH_BUF 0x21100000u /* the patch as received, not flash */
#define DEMO_PATCH_MAX 0x00100000u
#define DEMO_HANDOFF 0x21200000u   /* bootloader -> application: magic, slot */
#define DEMO_HANDOFF_MAGIC 0x4F424457u
#define DEMO_EXEC 0x00100000u      /* where images run (SSRAM1 above the bootloader) */
#define DEMO_PRODUCT "fwdelta-qemu-an386"

/* Exit codes the host script reads. */
#define DEMO_EXIT_DONE 0
#define DEMO_EXIT_RESET 10
#define DEMO_EXIT_CUT 11
#define DEMO_EXIT_HALT 12 /* no bootable image: the bootloader stops */
#define DEMO_EXIT_ERROR 13

typedef struct demo_run {
    char action;       /* U update, T update then alter slot, C confirm, N no confirm, R report */
    uint32_t boot_cut; /* state writes of the bootloader before the cut; 0: none */
    uint32_t app_cut;
    char mode;         /* 'b' before, 't' torn */
} demo_run;

extern demo_run demo_params;
extern fwd_boot_config demo_boot_cfg;

/* Reads run.txt; cut counting starts for the bootloader (0) or the app (1). */
void demo_init(int app);
/* flash.bin into PSRAM (erased when absent). */
void demo_flash_load(void);
/* Power off: flash.bin out, exit with code. */
_Noreturn void demo_power_off(int code);
void demo_apply_config(fwd_apply_config *cfg, unsigned running_slot);
extern uint32_t demo_apply_writes; /* bank B and journal programs and erases since demo_apply_config */
void demo_say(const char *what, const char *value);
void demo_say_num(const char *what, uint32_t value);

#endif
