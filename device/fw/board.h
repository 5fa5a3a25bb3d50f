/* Where the test firmware finds things on QEMU's mps2-an386 (Cortex-M4).
 *
 * QEMU maps ZBT SSRAM1 (4 MiB) at 0x00000000, SSRAM2/3 (4 MiB) at 0x20000000
 * and PSRAM (16 MiB) at 0x21000000 (hw/arm/mps2.c, checked with `info mtree`).
 * The firmware runs from SSRAM1 as if it were internal flash and uses SSRAM2/3
 * as its SRAM. PSRAM plays the external NOR flash: the host places bank A,
 * the staged patch and the run's parameters there with `-device loader`. */
#ifndef FW_BOARD_H
#define FW_BOARD_H

#define BOARD_SECTOR_SIZE   4096u        /* NOR erase unit */
/* The patches' block size: the erase unit, or a divisor of it (the small
 * profile's 1 KiB blocks), with sector_size() telling the applier so. */
#ifndef BOARD_BLOCK_SIZE
#define BOARD_BLOCK_SIZE    BOARD_SECTOR_SIZE
#endif
#define BOARD_PROG_UNIT     8u           /* NOR program unit (double word, as on STM32L4/G4) */

#define BOARD_BANK_A        0x21000000u  /* running image, read only */
#define BOARD_BANK_B        0x21400000u  /* spare bank the new image is built in */
#define BOARD_BANK_SIZE     0x00400000u  /* each bank */
#define BOARD_JOURNAL       0x21800000u  /* resume journal, four sectors */
#define BOARD_JOURNAL_SIZE  (4u * BOARD_SECTOR_SIZE)
#define BOARD_PARAMS        0x21810000u  /* this run: sizes and the expected hash (qemu_params.h) */
#define BOARD_NOR_STATE     0x21820000u  /* the flash model's own bookkeeping, not firmware RAM */
#define BOARD_NOR_STATE_SIZE 0x00020000u
#define BOARD_PATCH         0x21900000u  /* staged patch, as received */
#define BOARD_PATCH_MAX     0x00600000u

/* CMSDK APB dual timer 1, clocked at the board's 25 MHz SYSCLK. */
#define BOARD_TIMER1        0x40002000u
#define BOARD_TIMER_HZ      25000000u

#endif
