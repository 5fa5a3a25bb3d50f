/* The boot module's parts: the store (a log of fixed records in
 * FWD_BOOT_AREA_STATE), the policy (pure transitions on fwd_boot_state) and
 * the checks (manifest and slot image). "The store stores, the policy
 * decides"; boot_main.c strings them together. */
#ifndef FWD_BOOT_INTERNAL_H
#define FWD_BOOT_INTERNAL_H

#include <assert.h>

#include "fwd_boot.h"

/* Record layout (little-endian). Every record holds the whole state, so one
 * record is one transition and the newest valid record is all a reader needs. */
#define BR_MAGIC_VALUE 0x53425746u /* "FWBS" read as little-endian */
#define BR_LAYOUT 1u
#define BR_MAGIC 0u        /* u32 */
#define BR_SEQ 4u          /* u32: 1 + the highest ever seen; the highest valid one wins */
#define BR_LAYOUT_OFF 8u   /* u8 */
#define BR_KNOWN_GOOD 9u   /* u8: slot or FWD_BOOT_NO_SLOT */
#define BR_SLOT_STATE 10u  /* u8 per slot */
#define BR_ATTEMPTS 12u    /* u8 per slot */
#define BR_RESERVED0 14u   /* u16, zero */
#define BR_FLOOR 16u       /* u32 */
#define BR_LAST_STATUS 20u /* i32 */
#define BR_MANIFEST 24u    /* FWD_PREFIX_SIZE per slot */
#define BR_RESERVED1 (BR_MANIFEST + FWD_BOOT_SLOTS * FWD_PREFIX_SIZE) /* zeros up to the checksum */
#define BR_CHECK (FWD_BOOT_RECORD_SIZE - FWD_HASH_SIZE)               /* SHA-256 of bytes [0, BR_CHECK) */

static_assert(BR_RESERVED1 == 664u, "record layout moved");
static_assert(BR_RESERVED1 <= BR_CHECK, "record fields overlap the checksum");
static_assert(FWD_BOOT_RECORD_SIZE % 256u == 0, "a record is a multiple of every program unit");

#define BOOT_NO_RECORD UINT32_MAX

/* boot_store.c */
void fwd_boot_record_encode(const fwd_boot_state *s, uint8_t rec[FWD_BOOT_RECORD_SIZE]);
int fwd_boot_record_decode(const uint8_t rec[FWD_BOOT_RECORD_SIZE], fwd_boot_state *s);
fwd_status fwd_boot_store_load(fwd_boot_ctx *ctx);
/* Appends next as the newest record (its seq is assigned); ctx->st follows
 * only on success. */
fwd_status fwd_boot_store_append(fwd_boot_ctx *ctx, fwd_boot_state *next);

/* boot_policy.c */
int fwd_boot_policy_candidate(const fwd_boot_state *s);
void fwd_boot_policy_refuse(fwd_boot_state *s, unsigned slot, fwd_status why);
int fwd_boot_policy_trial_left(const fwd_boot_state *s, unsigned slot);
void fwd_boot_policy_start_trial(fwd_boot_state *s, unsigned slot);
fwd_status fwd_boot_policy_request(fwd_boot_state *s, unsigned slot, const uint8_t *manifest, uint8_t attempts);
fwd_status fwd_boot_policy_confirm(fwd_boot_state *s, unsigned slot, uint32_t security_version);
void fwd_boot_policy_provision(fwd_boot_state *s, unsigned slot, const uint8_t *manifest, uint32_t security_version);

/* boot_verify.c */
fwd_status fwd_boot_check_manifest(const fwd_boot_ctx *ctx, const uint8_t *manifest, fwd_header *h);
fwd_status fwd_boot_check_slot(fwd_boot_ctx *ctx, unsigned slot, const uint8_t *manifest, fwd_header *h);

#endif
