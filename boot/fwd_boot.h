/* fwdelta boot module: what happens after fwd_apply_finish() == FWD_OK.
 *
 * Linked by the bootloader and by the application. Two image slots, a
 * persistent record of their states, an anti-rollback floor, and verified
 * boot: every image that boots has a manifest (the 320-byte signed prefix
 * of the patch that built it, or of a full-image patch for a factory image)
 * and is checked against it before it runs. No heap; flash through callbacks.
 *
 * Slot states and transitions (each transition is one record in the
 * FWD_BOOT_AREA_STATE log, so a power cut leaves either the old or the new
 * state, never a mixture):
 *
 *   from                  event                                  to                                        who
 *   --------------------  -------------------------------------  ----------------------------------------  ------------
 *   (empty store)         fwd_boot_provision(X, manifest)        X CONFIRMED, known-good X, floor = sv(X)   factory
 *   any but known-good    fwd_boot_request_trial(X, prefix)      X PENDING(attempts = max_attempts)         application
 *   PENDING/TRIAL(k > 0)  select: X verifies                     X TRIAL(k - 1), then activate X, boot X    bootloader
 *   PENDING/TRIAL(k > 0)  select: X fails a check                X REFUSED(reason), boot known-good         bootloader
 *   TRIAL(0)              select: X never confirmed              X REFUSED(FWD_ERR_TRIAL_EXPIRED), revert   bootloader
 *   TRIAL                 fwd_boot_confirm(X)                    X CONFIRMED, known-good X, other NONE,     application
 *                                                                floor = max(floor, sv(X)), then counter
 *   CONFIRMED known-good  select: X verifies                     (no record), activate X, boot X            bootloader
 *   CONFIRMED known-good  select: X fails a check                (no record) FWD_ERR_NO_BOOTABLE_IMAGE      bootloader
 *
 * The floor rises only at confirm, never at finish: a finished but
 * unconfirmed image does not lock the device out of its known-good image.
 * The application gives the applier the floor at run time:
 *   cfg.min_security_version = fwd_boot_floor(&boot); cfg.allow_same_version = 1;
 *
 * Activation (the `activate` callback, called by fwd_boot_select just before
 * it returns the slot to jump to) covers three kinds of parts:
 *   - dual-bank with a bank-swap bit (STM32 dual-bank parts, BFB2/SWAP_BANK): set the
 *     bit so that slot X is mapped at the execution address; the images are
 *     linked for that one address.
 *   - XIP from either slot (QSPI remap, MCUboot direct-xip style): select the
 *     slot's base (remap register, or just jump to it); each image is linked
 *     for its own slot, so the generator diffs slot-linked images.
 *   - a single execution slot (internal flash runs one image; slots live in
 *     external flash): copy slot X's first new_size bytes into the execution
 *     area and check the copy (against the slot, or new_sha256) before jumping;
 *     the slot, not the execution area, stays the image of record.
 *
 * The application learns the slot it runs from (to confirm it) from the
 * bootloader: a no-init RAM word, a register at the jump, or its link address.
 * It starts an update only from a confirmed image: while it runs on trial,
 * the other slot is the known-good fallback.
 *
 * fwd_boot_select and fwd_boot_provision verify an ECDSA signature; on a
 * device build mbedTLS allocates for it, so point it at a static pool first
 * (mbedtls_memory_buffer_alloc_init). docs/BOOT.md has the record layout,
 * the PSA Firmware Update mapping and the MCUboot hand-off.
 */
#ifndef FWD_BOOT_H
#define FWD_BOOT_H

#include <stddef.h>
#include <stdint.h>

#include "fwd_format.h"
#include "fwd_status.h"

#define FWD_BOOT_SLOTS 2u
#define FWD_BOOT_NO_SLOT 0xFFu
#define FWD_BOOT_DEFAULT_ATTEMPTS 3u
#define FWD_BOOT_MAX_KEYS 4u

/* The state log: fixed 768-byte records (a multiple of every program unit
 * up to 256), appended one per transition. Layout in boot/boot_store.c. */
#define FWD_BOOT_RECORD_SIZE 768u

typedef enum fwd_boot_area {
    FWD_BOOT_AREA_SLOT0 = 0, /* image slots: read by the bootloader, written by the applier */
    FWD_BOOT_AREA_SLOT1 = 1,
    FWD_BOOT_AREA_STATE = 2  /* the boot state log: >= 2 erase sectors, owned by this module */
} fwd_boot_area;

typedef enum fwd_slot_state {
    FWD_SLOT_NONE = 0,      /* nothing to boot here */
    FWD_SLOT_PENDING = 1,   /* a finished, verified update awaits its first boot */
    FWD_SLOT_TRIAL = 2,     /* booting on trial; attempts[] boots left */
    FWD_SLOT_CONFIRMED = 3, /* the running image said it works */
    FWD_SLOT_REFUSED = 4    /* failed a check or its trial: never booted again */
} fwd_slot_state;

typedef struct fwd_boot_config {
    /* Flash callbacks, 0 on success. Offsets are relative to the area. The
     * module programs and erases only FWD_BOOT_AREA_STATE. */
    int (*read)(void *user, fwd_boot_area area, uint32_t off, void *buf, uint32_t len);
    int (*prog)(void *user, fwd_boot_area area, uint32_t off, const void *buf, uint32_t len);
    int (*erase)(void *user, fwd_boot_area area, uint32_t off, uint32_t len);
    /* Bootloader only (NULL in the application): make slot bootable at the
     * execution address, see above. Non-zero: the slot is not booted. */
    int (*activate)(void *user, unsigned slot);
    /* Optional hardware monotonic counter (OTP, eFuse). Both NULL: the floor
     * lives in the state log only. The floor in force is the larger of both. */
    int (*read_counter)(void *user, uint32_t *value);
    int (*raise_counter)(void *user, uint32_t value);
    void *user;

    uint32_t slot_size;         /* bytes of each image slot */
    uint32_t state_size;        /* bytes of FWD_BOOT_AREA_STATE: >= 2 sectors */
    uint32_t state_sector_size; /* its erase sector: >= FWD_BOOT_RECORD_SIZE */

    const uint8_t (*pubkeys)[65]; /* the built-in signers (uncompressed P-256) */
    uint32_t pubkey_count;        /* 1 .. FWD_BOOT_MAX_KEYS */
    uint8_t product_id[FWD_PRODUCT_ID_SIZE];
    uint8_t max_attempts;         /* trial boots before a revert; 0: FWD_BOOT_DEFAULT_ATTEMPTS */
} fwd_boot_config;

/* The decoded newest record: everything the module knows. */
typedef struct fwd_boot_state {
    uint32_t seq;
    uint8_t slot[FWD_BOOT_SLOTS];     /* fwd_slot_state */
    uint8_t attempts[FWD_BOOT_SLOTS]; /* trial boots left */
    uint8_t known_good;               /* slot to fall back to, or FWD_BOOT_NO_SLOT */
    uint32_t floor;                   /* anti-rollback floor as recorded */
    int32_t last_status;              /* why the last slot was refused or reverted; FWD_OK otherwise */
    uint8_t manifest[FWD_BOOT_SLOTS][FWD_PREFIX_SIZE];
} fwd_boot_state;

/* All the module's RAM; the caller allocates it (statically, usually). */
typedef struct fwd_boot_ctx {
    const fwd_boot_config *cfg;
    fwd_boot_state st;
    uint32_t counter;  /* hardware counter read at init (0 without one) */
    uint32_t head;     /* offset of the newest valid record, or UINT32_MAX */
    uint32_t next_seq; /* 1 + the highest sequence number in any non-erased record slot */
    uint8_t buf[FWD_BOOT_RECORD_SIZE]; /* one record, or a read chunk while hashing a slot */
} fwd_boot_ctx;

/* Reads the state log (and the hardware counter). FWD_ERR_CONFIG for a bad
 * geometry, FWD_ERR_COUNTER when the counter cannot be read. An empty or
 * unreadable log is not an error: fwd_boot_has_state() says whether a state
 * was found. */
fwd_status fwd_boot_init(fwd_boot_ctx *ctx, const fwd_boot_config *cfg);
int fwd_boot_has_state(const fwd_boot_ctx *ctx);

/* The anti-rollback floor in force: max(recorded floor, hardware counter). */
uint32_t fwd_boot_floor(const fwd_boot_ctx *ctx);

/* Factory: the first record. Verifies slot's image against manifest as a
 * boot would, then records it CONFIRMED and known-good. FWD_ERR_STATE when
 * the log already holds a state. */
fwd_status fwd_boot_provision(fwd_boot_ctx *ctx, unsigned slot, const uint8_t manifest[FWD_PREFIX_SIZE]);

/* Bootloader: picks, checks, records and activates the slot to boot
 * (table above); *slot is the one to jump to. A trial start is recorded
 * before activation. FWD_ERR_NO_BOOTABLE_IMAGE when nothing verifies: halt
 * or enter recovery; *why (may be NULL) holds the known-good slot's refusal. */
fwd_status fwd_boot_select(fwd_boot_ctx *ctx, unsigned *slot, fwd_status *why);

/* Application, after fwd_apply_finish() == FWD_OK into slot: records it
 * PENDING with prefix (the patch's first FWD_PREFIX_SIZE bytes) as its
 * manifest. FWD_ERR_STATE when slot is the known-good one, FWD_ERR_MANIFEST
 * when prefix is not a signed header, FWD_ERR_ROLLBACK below the floor. */
fwd_status fwd_boot_request_trial(fwd_boot_ctx *ctx, unsigned slot, const uint8_t prefix[FWD_PREFIX_SIZE]);

/* Application, once it knows it works: confirms running_slot (records it,
 * then raises the hardware counter). FWD_OK and no write when running_slot
 * is already the known-good one; FWD_ERR_STATE when it is neither. */
fwd_status fwd_boot_confirm(fwd_boot_ctx *ctx, unsigned running_slot);

/* Read-only view of the current state (for reports and tests). */
const fwd_boot_state *fwd_boot_get_state(const fwd_boot_ctx *ctx);

/* MCUboot hand-off, for applications that boot through MCUboot and whose
 * patches rebuild imgtool-signed images into the secondary slot: after
 * fwd_apply_finish() == FWD_OK, writes the secondary slot's trailer as
 * MCUboot's design document lays it out (BOOT_MAX_ALIGN 8: swap info, image
 * ok, 16-byte magic at the slot's end) to request a test upgrade (MCUboot
 * swaps, boots it once, reverts unless the image calls
 * boot_write_img_confirmed) or a permanent one. The magic goes last, so a
 * power cut before it leaves no request at all. */
typedef struct fwd_mcuboot_slot {
    int (*read)(void *user, uint32_t off, void *buf, uint32_t len);
    int (*prog)(void *user, uint32_t off, const void *buf, uint32_t len);
    int (*erase)(void *user, uint32_t off, uint32_t len);
    void *user;
    uint32_t slot_size;   /* bytes of the secondary slot */
    uint32_t sector_size; /* erase sector at the slot's end */
    uint32_t align;       /* flash write unit: 1, 2, 4 or 8 */
    uint32_t image_size;  /* bytes the rebuilt image occupies (the header's new_size) */
} fwd_mcuboot_slot;

#define FWD_MCUBOOT_MAX_ALIGN 8u
#define FWD_MCUBOOT_TRAILER_SIZE 48u /* swap size, swap info, copy done, image ok, magic */

fwd_status fwd_boot_mcuboot_request(const fwd_mcuboot_slot *s, int permanent);

#endif
