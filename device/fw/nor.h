/* The applier's flash callbacks over emulated NOR flash in QEMU's PSRAM, with
 * NOR's rules enforced: erase only whole aligned sectors (to 0xFF), program
 * only aligned whole units, at most once per unit between erases, and only
 * 1->0 bit changes. A broken rule fails the call and is counted. */
#ifndef FW_NOR_H
#define FW_NOR_H

#include <stdint.h>

#include "fwd_apply.h"

typedef struct nor_region {
    uint8_t *mem;
    uint32_t size;
    uint32_t *programmed; /* one bit per program unit since the last erase */
} nor_region;

typedef struct nor_board {
    const uint8_t *bank_a;
    uint32_t bank_a_size;
    nor_region bank_b, journal;
    uint32_t erases, programs, violations, old_writes;
} nor_board;

/* Bank B starts in an unknown, programmed state (it must be erased before it
 * is programmed); the journal starts erased, as on a fresh device. */
void nor_board_init(nor_board *b);
void nor_board_config(nor_board *b, fwd_apply_config *cfg);

int nor_read(void *user, fwd_area area, uint32_t off, void *buf, uint32_t len);
int nor_prog(void *user, fwd_area area, uint32_t off, const void *buf, uint32_t len);
int nor_erase(void *user, fwd_area area, uint32_t off, uint32_t len);

#endif
