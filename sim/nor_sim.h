/* A NOR flash model for tests and the CLI: erased value 0xFF, programming
 * only clears bits, a program unit written at most once per erase, only whole
 * aligned sectors erased, and power cuts before, after or in the middle of an
 * operation (torn program: the units before the tear plus a random subset of
 * the torn unit's bit-clears; torn erase: random bits). Rule violations are
 * counted, not fatal, so a test can assert there were none.
 *
 * Fault modes of real MCU flash (nor_faults), all deterministic per seed:
 * - ecc: the program unit is an ECC word (STM32L4/G4/U5: 8 bytes, H7: 32).
 *   A unit whose program was torn, and every unit of a sector whose erase was
 *   torn, fails every read (an ECC double error) until the sector is erased;
 *   programming a unit twice fails.
 * - unstable: the bit-clears a torn program (or erase) left half done read
 *   as 0 or as 1, chosen afresh per unit at every power-up (nor_power_on).
 * - stuck cells: up to NOR_MAX_STUCK bits that always read 0 or always 1.
 * - dead sectors: sectors whose erase fails and changes nothing. */
#ifndef NOR_SIM_H
#define NOR_SIM_H

#include <stdint.h>

#include "fwd_apply.h"

#define NOR_MAX_SECTORS (1u << 20)

typedef enum nor_cut_mode { NOR_CUT_BEFORE = 0, NOR_CUT_AFTER = 1, NOR_CUT_TORN = 2 } nor_cut_mode;

#define NOR_MAX_STUCK 4

typedef struct nor_stuck {
    uint32_t off;
    uint8_t mask;   /* the stuck bits of byte off */
    uint8_t value;  /* what they read: 0x00 (stuck at 0) or mask (stuck at 1) */
} nor_stuck;

typedef struct nor_faults {
    int ecc;                 /* reads of a torn unit or torn-erased sector fail */
    int unstable;            /* torn bits read differently at each power-up */
    uint32_t dead_sectors;   /* bit i: sector i no longer erases */
    nor_stuck stuck[NOR_MAX_STUCK];
    uint32_t nstuck;
    uint64_t seed;           /* unstable: with the epoch, how weak bits read */
} nor_faults;

typedef struct nor_flash {
    uint8_t *mem;
    uint8_t *unit_used;   /* per program unit: programmed since the last erase */
    uint32_t size, prog_unit, nsectors;
    uint32_t *sector_start;        /* nsectors + 1 entries: the last is the end */
    uint32_t *erases, *programs;   /* wear counters per sector */
    uint32_t violations;  /* misaligned, double program, partial-sector erase, out of range, a prog
                           * longer than the device's prog_max */
    nor_faults faults;
    uint8_t *unit_bad;    /* ecc: per program unit, reads fail */
    uint8_t *weak;        /* unstable: per byte, bits that may read 0 or 1 */
    uint64_t epoch;       /* power-ups so far: picks how weak bits read */
    uint32_t read_faults; /* reads refused (ecc) */
    uint32_t torn_reprograms; /* programs over a torn unit: no software can avoid them (unstable) */
} nor_flash;

/* One power domain: the mutating operations of every area count together. */
typedef struct nor_power {
    uint64_t ops;          /* mutating operations so far */
    uint64_t cut_at;       /* 1-based operation that the cut hits; 0: never */
    nor_cut_mode mode;
    uint64_t rng;          /* torn-operation randomness */
    int dead;              /* power is off: every operation fails */
} nor_power;

typedef struct sim_device {
    const uint8_t *old_image;
    uint32_t old_bank_size;
    nor_flash bank_b, journal;
    nor_power power;
    uint32_t old_writes;   /* attempts to write bank A: must stay 0 */
    /* Optional hook called before each bank B program (the refusal tests
     * check every program against the verified segments). */
    void (*on_prog)(void *hook_user, uint32_t off, uint32_t len);
    void *hook_user;
    int fail_readback;     /* simulate a failing flash: reads of bank B return flipped bits */
    uint32_t prog_max;     /* longest prog call accepted, 0: any; sim_device_config sets the
                            * applier's contract, FWD_APPLY_PROG_MAX */
} sim_device;

/* Uniform sectors of sector_size; mixed = STM32F4-style 16,16,16,16,64,128,128... KiB. */
int nor_init(nor_flash *f, uint32_t size, uint32_t sector_size, uint32_t prog_unit);
int nor_init_mixed(nor_flash *f, uint32_t size, uint32_t prog_unit);
void nor_free(nor_flash *f);
/* Turns fault modes on (before use); 0 or -1 on bad arguments. */
int nor_set_faults(nor_flash *f, const nor_faults *faults);
uint32_t nor_sector_at(const nor_flash *f, uint32_t off); /* size of the sector starting at off, else 0 */

/* Fills cfg's callbacks and geometry for dev; keys, product and limits are the caller's. */
void sim_device_config(sim_device *dev, fwd_apply_config *cfg);
/* Power comes back: the dead flag clears and unstable bits draw anew. */
void sim_power_on(sim_device *dev);
int sim_read(void *user, fwd_area area, uint32_t off, void *buf, uint32_t len);
int sim_prog(void *user, fwd_area area, uint32_t off, const void *buf, uint32_t len);
int sim_erase(void *user, fwd_area area, uint32_t off, uint32_t len);

#endif
