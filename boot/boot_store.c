/* The boot state store: an append-only log of fixed 768-byte records in
 * FWD_BOOT_AREA_STATE, one per transition, each holding the whole state.
 *
 * Rules (the applier's journal keeps the same ones in a store of its own,
 * with its own records and checksum):
 *   - a record slot that does not read (ECC fault) or fails its checksum is
 *     invalid, never an abort;
 *   - a new record's sequence number is 1 + the highest seen in any
 *     non-erased slot, torn ones included (see next_seq for the bound), so a
 *     stale or half-written record that later reads as valid never outranks
 *     a newer one;
 *   - a failed program, read-back or erase moves on to the next sector (a
 *     slot that is not erased, torn by an earlier cut, to the next slot);
 *   - a sector is erased only when the log moves into it, and never the one
 *     holding the newest valid record. Records are self-contained, so the
 *     record being appended is the copy forward of the newest state.
 * The checksum (SHA-256) guards against power loss, not attackers: everything
 * security-relevant is re-checked against signed data at boot. */
#include <string.h>

#include "boot_internal.h"
#include "fwd_crypto.h"

void fwd_boot_record_encode(const fwd_boot_state *s, uint8_t rec[FWD_BOOT_RECORD_SIZE])
{
    memset(rec, 0, FWD_BOOT_RECORD_SIZE);
    fwd_store32(rec + BR_MAGIC, BR_MAGIC_VALUE);
    fwd_store32(rec + BR_SEQ, s->seq);
    rec[BR_LAYOUT_OFF] = BR_LAYOUT;
    rec[BR_KNOWN_GOOD] = s->known_good;
    for (unsigned i = 0; i < FWD_BOOT_SLOTS; i++) {
        rec[BR_SLOT_STATE + i] = s->slot[i];
        rec[BR_ATTEMPTS + i] = s->attempts[i];
        memcpy(rec + BR_MANIFEST + i * FWD_PREFIX_SIZE, s->manifest[i], FWD_PREFIX_SIZE);
    }
    fwd_store32(rec + BR_FLOOR, s->floor);
    fwd_store32(rec + BR_LAST_STATUS, (uint32_t)s->last_status);
    fwd_sha256(rec, BR_CHECK, rec + BR_CHECK);
}

/* 0 when rec is a whole record of this layout with fields in range; s is
 * written only then. */
int fwd_boot_record_decode(const uint8_t rec[FWD_BOOT_RECORD_SIZE], fwd_boot_state *s)
{
    uint8_t sum[FWD_HASH_SIZE];
    if (fwd_load32(rec + BR_MAGIC) != BR_MAGIC_VALUE || rec[BR_LAYOUT_OFF] != BR_LAYOUT)
        return -1;
    fwd_sha256(rec, BR_CHECK, sum);
    if (memcmp(sum, rec + BR_CHECK, FWD_HASH_SIZE) != 0)
        return -1;
    if (rec[BR_KNOWN_GOOD] >= FWD_BOOT_SLOTS && rec[BR_KNOWN_GOOD] != FWD_BOOT_NO_SLOT)
        return -1;
    for (unsigned i = 0; i < FWD_BOOT_SLOTS; i++)
        if (rec[BR_SLOT_STATE + i] > FWD_SLOT_REFUSED)
            return -1;
    s->seq = fwd_load32(rec + BR_SEQ);
    s->known_good = rec[BR_KNOWN_GOOD];
    for (unsigned i = 0; i < FWD_BOOT_SLOTS; i++) {
        s->slot[i] = rec[BR_SLOT_STATE + i];
        s->attempts[i] = rec[BR_ATTEMPTS + i];
        memcpy(s->manifest[i], rec + BR_MANIFEST + i * FWD_PREFIX_SIZE, FWD_PREFIX_SIZE);
    }
    s->floor = fwd_load32(rec + BR_FLOOR);
    s->last_status = (int32_t)fwd_load32(rec + BR_LAST_STATUS);
    return 0;
}

static int is_erased(const uint8_t *p, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        if (p[i] != 0xFF)
            return 0;
    return 1;
}

static uint32_t slots_per_sector(const fwd_boot_config *cfg)
{
    return cfg->state_sector_size / FWD_BOOT_RECORD_SIZE;
}

static uint32_t total_slots(const fwd_boot_config *cfg)
{
    return cfg->state_size / cfg->state_sector_size * slots_per_sector(cfg);
}

static uint32_t next_sector(const fwd_boot_config *cfg, uint32_t off)
{
    return (off / cfg->state_sector_size + 1) * cfg->state_sector_size % cfg->state_size;
}

/* The record slot after off, skipping a sector's unused tail. */
static uint32_t next_pos(const fwd_boot_config *cfg, uint32_t off)
{
    if (off % cfg->state_sector_size / FWD_BOOT_RECORD_SIZE + 1 < slots_per_sector(cfg))
        return off + FWD_BOOT_RECORD_SIZE;
    return next_sector(cfg, off);
}

static int read_slot(fwd_boot_ctx *ctx, uint32_t off)
{
    return ctx->cfg->read(ctx->cfg->user, FWD_BOOT_AREA_STATE, off, ctx->buf, FWD_BOOT_RECORD_SIZE);
}

static uint32_t slot_offset(const fwd_boot_config *cfg, uint32_t index)
{
    return index / slots_per_sector(cfg) * cfg->state_sector_size + index % slots_per_sector(cfg) * FWD_BOOT_RECORD_SIZE;
}

/* The newest valid record; returns how many slots did not read. */
static uint32_t find_head(fwd_boot_ctx *ctx)
{
    uint32_t unreadable = 0;
    ctx->head = BOOT_NO_RECORD;
    for (uint32_t i = 0; i < total_slots(ctx->cfg); i++) {
        uint32_t off = slot_offset(ctx->cfg, i);
        if (read_slot(ctx, off) != 0) {
            unreadable++;
            continue;
        }
        if (ctx->head != BOOT_NO_RECORD && fwd_load32(ctx->buf + BR_SEQ) <= ctx->st.seq)
            continue;
        if (fwd_boot_record_decode(ctx->buf, &ctx->st) == 0)
            ctx->head = off;
    }
    return unreadable;
}

/* The next sequence number: above every number a record written after the
 * newest valid one can carry. Each append takes at most total_slots numbers
 * and each such record (torn, or unreadable now) occupies a slot, so they lie
 * within total_slots^2 above the head. A larger value in a non-erased slot is
 * a half-programmed field (bits of 0xFF left), not a number we wrote; taking
 * it would run the counter to its wrap, where stale records win. */
static uint32_t next_seq(fwd_boot_ctx *ctx, uint32_t unreadable)
{
    const fwd_boot_config *cfg = ctx->cfg;
    uint32_t base = ctx->head == BOOT_NO_RECORD ? 0 : ctx->st.seq, window = total_slots(cfg) * total_slots(cfg);
    uint32_t top = base;
    for (uint32_t i = 0; i < total_slots(cfg); i++) {
        uint8_t f[4];
        if (cfg->read(cfg->user, FWD_BOOT_AREA_STATE, slot_offset(cfg, i) + BR_SEQ, f, sizeof(f)) != 0)
            continue;
        uint32_t seq = fwd_load32(f);
        if (seq > top && seq - base <= window)
            top = seq;
    }
    /* An unreadable slot may hold such a record and read again later. */
    return unreadable ? base + window + 1 : top + 1;
}

fwd_status fwd_boot_store_load(fwd_boot_ctx *ctx)
{
    uint32_t unreadable = find_head(ctx);
    ctx->next_seq = next_seq(ctx, unreadable);
    return FWD_OK;
}

/* Compares a record slot with rec (NULL: with erased flash) in small reads,
 * so that the record in ctx->buf stays put. 0 when equal and readable. */
#define BOOT_CMP_CHUNK 64u
static int slot_differs(fwd_boot_ctx *ctx, uint32_t off, const uint8_t *rec)
{
    uint8_t chunk[BOOT_CMP_CHUNK];
    for (uint32_t i = 0; i < FWD_BOOT_RECORD_SIZE; i += BOOT_CMP_CHUNK) {
        if (ctx->cfg->read(ctx->cfg->user, FWD_BOOT_AREA_STATE, off + i, chunk, BOOT_CMP_CHUNK) != 0)
            return 1;
        if (rec ? memcmp(chunk, rec + i, BOOT_CMP_CHUNK) != 0 : !is_erased(chunk, BOOT_CMP_CHUNK))
            return 1;
    }
    return 0;
}
static_assert(FWD_BOOT_RECORD_SIZE % BOOT_CMP_CHUNK == 0, "whole chunks");

/* Programs the record in ctx->buf at off into a slot that is (or is made)
 * erased, and reads it back. 0: written; SKIP_SLOT: the slot holds something
 * (a torn record) or does not read; SKIP_SECTOR: the flash refused. */
enum { WRITTEN = 0, SKIP_SLOT, SKIP_SECTOR };
static int write_at(fwd_boot_ctx *ctx, uint32_t off)
{
    const fwd_boot_config *cfg = ctx->cfg;
    if (off % cfg->state_sector_size == 0) {
        if (ctx->head != BOOT_NO_RECORD && ctx->head / cfg->state_sector_size == off / cfg->state_sector_size)
            return SKIP_SECTOR; /* never erase the newest valid state */
        if (cfg->erase(cfg->user, FWD_BOOT_AREA_STATE, off, cfg->state_sector_size) != 0)
            return SKIP_SECTOR;
    } else if (slot_differs(ctx, off, NULL)) {
        return SKIP_SLOT; /* programming over it would break NOR's rules */
    }
    if (cfg->prog(cfg->user, FWD_BOOT_AREA_STATE, off, ctx->buf, FWD_BOOT_RECORD_SIZE) != 0 ||
        slot_differs(ctx, off, ctx->buf))
        return SKIP_SECTOR;
    return WRITTEN;
}

fwd_status fwd_boot_store_append(fwd_boot_ctx *ctx, fwd_boot_state *next)
{
    const fwd_boot_config *cfg = ctx->cfg;
    uint32_t total = total_slots(cfg);
    uint32_t off = ctx->head == BOOT_NO_RECORD ? 0 : next_pos(cfg, ctx->head);
    for (uint32_t tries = 0; tries < total; tries++) {
        /* Each attempt takes a fresh number: a failed one may have left a
         * partial record carrying the previous. */
        next->seq = ctx->next_seq++;
        fwd_boot_record_encode(next, ctx->buf);
        int r = write_at(ctx, off);
        if (r == WRITTEN) {
            ctx->st = *next;
            ctx->head = off;
            return FWD_OK;
        }
        off = r == SKIP_SLOT ? next_pos(cfg, off) : next_sector(cfg, off);
    }
    return FWD_ERR_BOOT_STATE;
}
