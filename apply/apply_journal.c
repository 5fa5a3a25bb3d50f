/* Resume journal (FORMAT.md, "Journal"). Records are appended, never
 * rewritten; each carries a sequence number and an XXH32 so that a torn write
 * reads as garbage, and the newest intact record wins. Each sector opens with
 * an anchor holding the patch's signed prefix, so a resumed apply re-verifies
 * the header from flash and the caller only feeds the remaining segments.
 * XXH32 is enough here: the journal guards against power loss, not attackers
 * (whatever it says is re-checked against the signed chain and final hash). */
#include <string.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "apply_internal.h"

#define ANCHOR_MAGIC 0x41445746u   /* "FWDA": an apply starts, at segment 0 */
#define CONTINUE_MAGIC 0x43445746u /* "FWDC": the journal moved to a new sector; no progress of its own */
#define RECORD_MAGIC 0x4A445746u /* "FWDJ" */
#define ANCHOR_BYTES (8u + FWD_PREFIX_SIZE + 4u)
/* An encrypted patch's anchor also holds the size of its recipients area and
 * the device's own (public) entry, so that a resume can unwrap again. */
#define ANCHOR_ENC_BYTES (ANCHOR_BYTES + 4u + FWD_RECIPIENT_SIZE)
#define ANCHOR_ENC (8u + FWD_PREFIX_SIZE)
#define RECORD_BYTES 84u
#define STATE_APPLYING 1u
#define STATE_DONE 2u

typedef struct record {
    uint32_t seq, segment, patch_offset, out_block, resume_out, attempts, state;
    uint8_t hash[FWD_HASH_SIZE];
} record;

static uint32_t round_up(uint32_t v, uint32_t unit) { return (v + unit - 1) / unit * unit; }
/* Anchor bytes, from the enc_alg byte (header offset 12) of its prefix. */
static uint32_t anchor_bytes(const uint8_t *prefix) { return prefix[12] == FWD_ENC_NONE ? ANCHOR_BYTES : ANCHOR_ENC_BYTES; }
static uint32_t anchor_slot(const fwd_apply_config *cfg, uint32_t bytes) { return round_up(bytes, cfg->prog_size); }
static uint32_t record_slot(const fwd_apply_config *cfg) { return round_up(RECORD_BYTES, cfg->prog_size); }
static uint32_t sector_count(const fwd_apply_config *cfg) { return cfg->journal_size / cfg->journal_sector_size; }

static int jread(fwd_apply_state *ctx, uint32_t off, void *buf, uint32_t len)
{
    const fwd_apply_config *cfg = ctx->cfg;
    return cfg->read(cfg->user, FWD_AREA_JOURNAL, off, buf, len) == 0 ? FWD_OK : FWD_ERR_FLASH_IO;
}

/* Programs one slot (already padded with 0xFF in ctx->payload) and reads it back. */
static int jprog(fwd_apply_state *ctx, uint32_t off, uint32_t len)
{
    const fwd_apply_config *cfg = ctx->cfg;
    if (cfg->prog(cfg->user, FWD_AREA_JOURNAL, off, ctx->payload, len) != 0)
        return FWD_ERR_FLASH_IO;
    for (uint32_t done = 0; done < len; done += FWD_APPLY_CHECK_BUF) {
        uint32_t n = len - done < FWD_APPLY_CHECK_BUF ? len - done : FWD_APPLY_CHECK_BUF;
        if (jread(ctx, off + done, ctx->check_buf, n) != FWD_OK)
            return FWD_ERR_FLASH_IO;
        if (memcmp(ctx->check_buf, ctx->payload + done, n) != 0)
            return FWD_ERR_FLASH_VERIFY;
    }
    return FWD_OK;
}

static int write_anchor(fwd_apply_state *ctx, uint32_t sector, uint32_t magic)
{
    const fwd_apply_config *cfg = ctx->cfg;
    uint32_t base = sector * cfg->journal_sector_size;
    if (cfg->erase(cfg->user, FWD_AREA_JOURNAL, base, cfg->journal_sector_size) != 0)
        return FWD_ERR_FLASH_IO;
    uint8_t *b = ctx->payload;
    uint32_t n = anchor_bytes(ctx->prefix), slot = anchor_slot(cfg, n);
    memset(b, 0xFF, slot);
    fwd_store32(b, magic);
    fwd_store32(b + 4, ++ctx->journal_seq);
    memcpy(b + 8, ctx->prefix, FWD_PREFIX_SIZE);
    if (n == ANCHOR_ENC_BYTES) {
        fwd_store32(b + ANCHOR_ENC, ctx->recipients_size);
        memcpy(b + ANCHOR_ENC + 4, ctx->recipient, FWD_RECIPIENT_SIZE);
    }
    fwd_store32(b + n - 4, XXH32(b, n - 4, 0));
    int st = jprog(ctx, base, slot);
    ctx->journal_sector = sector;
    ctx->journal_slot = slot;
    return st;
}

static int all_erased(const uint8_t *b, uint32_t n);

/* *erased: whether the whole slot at off reads as erased. */
static int slot_erased(fwd_apply_state *ctx, uint32_t off, uint32_t len, int *erased)
{
    *erased = 1;
    for (uint32_t done = 0; done < len && *erased; done += FWD_APPLY_CHECK_BUF) {
        uint32_t n = len - done < FWD_APPLY_CHECK_BUF ? len - done : FWD_APPLY_CHECK_BUF;
        if (jread(ctx, off + done, ctx->check_buf, n) != FWD_OK)
            return FWD_ERR_FLASH_IO;
        *erased = all_erased(ctx->check_buf, n);
    }
    return FWD_OK;
}

static int write_record(fwd_apply_state *ctx, const record *r)
{
    const fwd_apply_config *cfg = ctx->cfg;
    uint32_t slot = record_slot(cfg);
    /* The scan vouches for the first free slot only, and for its first
     * RECORD_BYTES: a slot that is not wholly erased is skipped, never
     * programmed twice. A sector erased just now must have room. */
    for (int rolled = 0;; ctx->journal_slot += slot) {
        int st, erased;
        if (ctx->journal_slot + slot > cfg->journal_sector_size) {
            if (rolled++)
                return FWD_ERR_JOURNAL;
            if ((st = write_anchor(ctx, (ctx->journal_sector + 1) % sector_count(cfg), CONTINUE_MAGIC)) != FWD_OK)
                return st;
        }
        if ((st = slot_erased(ctx, ctx->journal_sector * cfg->journal_sector_size + ctx->journal_slot, slot,
                              &erased)) != FWD_OK)
            return st;
        if (erased)
            break;
    }
    uint8_t *b = ctx->payload;
    memset(b, 0xFF, slot);
    fwd_store32(b, RECORD_MAGIC);
    fwd_store32(b + 4, ++ctx->journal_seq);
    memcpy(b + 8, ctx->patch_id, 16);
    fwd_store32(b + 24, r->segment);
    fwd_store32(b + 28, r->patch_offset);
    fwd_store32(b + 32, r->out_block);
    fwd_store32(b + 36, r->resume_out);
    fwd_store32(b + 40, r->attempts);
    fwd_store32(b + 44, r->state);
    memcpy(b + 48, r->hash, FWD_HASH_SIZE);
    fwd_store32(b + 80, XXH32(b, 80, 0));
    uint32_t off = ctx->journal_sector * cfg->journal_sector_size + ctx->journal_slot;
    ctx->journal_slot += slot;
    return jprog(ctx, off, slot);
}

static int all_erased(const uint8_t *b, uint32_t n)
{
    uint8_t acc = 0xFF;
    for (uint32_t i = 0; i < n; i++)
        acc &= b[i];
    return acc == 0xFF;
}

typedef struct scan_result {
    int found;
    uint32_t sector, slot; /* where the newest record lies, and the next free slot there */
    record rec;
} scan_result;

static void consider(fwd_apply_state *ctx, scan_result *best, const record *r, uint32_t sector, const uint8_t *anchor)
{
    if (r->seq > ctx->journal_seq)
        ctx->journal_seq = r->seq; /* new records must supersede every one seen */
    if (best->found && r->seq <= best->rec.seq)
        return;
    best->found = 1;
    best->sector = sector;
    best->rec = *r;
    memcpy(ctx->prefix, anchor + 8, FWD_PREFIX_SIZE);
    ctx->recipients_size = 0;
    if (anchor_bytes(anchor + 8) == ANCHOR_ENC_BYTES) {
        ctx->recipients_size = fwd_load32(anchor + ANCHOR_ENC);
        memcpy(ctx->recipient, anchor + ANCHOR_ENC + 4, FWD_RECIPIENT_SIZE);
    }
}

/* Reads every sector and keeps the newest intact record bound to an intact
 * anchor in the same sector; ctx->prefix receives that anchor's prefix and
 * ctx->journal_seq the highest sequence number, so that new records always
 * supersede old ones. */
static int scan(fwd_apply_state *ctx, scan_result *best)
{
    const fwd_apply_config *cfg = ctx->cfg;
    uint8_t *anchor = ctx->payload;
    uint32_t rs = record_slot(cfg);
    memset(best, 0, sizeof(*best));
    for (uint32_t s = 0; s < sector_count(cfg); s++) {
        uint32_t base = s * cfg->journal_sector_size;
        int st = jread(ctx, base, anchor, ANCHOR_ENC_BYTES);
        if (st != FWD_OK)
            return st;
        uint32_t magic = fwd_load32(anchor);
        if ((magic != ANCHOR_MAGIC && magic != CONTINUE_MAGIC) ||
            fwd_load32(anchor + anchor_bytes(anchor + 8) - 4) != XXH32(anchor, anchor_bytes(anchor + 8) - 4, 0))
            continue;
        uint8_t pid[FWD_HASH_SIZE];
        fwd_sha256(anchor + 8, FWD_HEADER_SIZE, pid);
        uint32_t area = anchor_bytes(anchor + 8) == ANCHOR_ENC_BYTES ? fwd_load32(anchor + ANCHOR_ENC) : 0;
        record r = { .seq = fwd_load32(anchor + 4), .patch_offset = FWD_PREFIX_SIZE + area, .state = STATE_APPLYING };
        memcpy(r.hash, anchor + 8 + 160, FWD_HASH_SIZE); /* chain_head: segment 0 comes next */
        if (magic == ANCHOR_MAGIC)
            consider(ctx, best, &r, s, anchor);
        else if (r.seq > ctx->journal_seq)
            ctx->journal_seq = r.seq; /* a continuation only vouches for the records after it */
        uint32_t free_slot = cfg->journal_sector_size;
        for (uint32_t slot = anchor_slot(cfg, anchor_bytes(anchor + 8)); slot + rs <= cfg->journal_sector_size; slot += rs) {
            uint8_t rb[RECORD_BYTES];
            if ((st = jread(ctx, base + slot, rb, RECORD_BYTES)) != FWD_OK)
                return st;
            if (all_erased(rb, RECORD_BYTES)) {
                free_slot = slot;
                break;
            }
            if (fwd_load32(rb) != RECORD_MAGIC || fwd_load32(rb + 80) != XXH32(rb, 80, 0) ||
                memcmp(rb + 8, pid, 16) != 0)
                continue; /* torn or foreign: skipped, never programmed again */
            r.seq = fwd_load32(rb + 4);
            r.segment = fwd_load32(rb + 24);
            r.patch_offset = fwd_load32(rb + 28);
            r.out_block = fwd_load32(rb + 32);
            r.resume_out = fwd_load32(rb + 36);
            r.attempts = fwd_load32(rb + 40);
            r.state = fwd_load32(rb + 44);
            memcpy(r.hash, rb + 48, FWD_HASH_SIZE);
            consider(ctx, best, &r, s, anchor);
        }
        if (best->found && best->sector == s)
            best->slot = free_slot;
    }
    return FWD_OK;
}

int fwd_journal_load(fwd_apply_state *ctx, unsigned flags, uint32_t *resume_offset)
{
    const fwd_apply_config *cfg = ctx->cfg;
    *resume_offset = 0;
    ctx->journal_seq = 0;
    if (cfg->journal_size == 0)
        return FWD_OK; /* no journal: nothing to resume; and no sector count to divide by */
    ctx->journal_sector = sector_count(cfg) - 1; /* a fresh start takes sector 0 */
    scan_result best;
    int st = scan(ctx, &best);
    if (st != FWD_OK || !best.found)
        return st;
    ctx->journal_sector = best.sector;
    ctx->journal_slot = best.slot;
    const record *r = &best.rec;
    if ((flags & FWD_APPLY_RESTART) || (r->state != STATE_APPLYING && r->state != STATE_DONE) ||
        r->attempts >= FWD_APPLY_MAX_RESUMES)
        return FWD_OK;

    st = fwd_accept_prefix(ctx);
    if (st == FWD_ERR_FLASH_IO)
        return st;
    if (st != FWD_OK)
        return FWD_OK; /* the journalled patch no longer applies here: start clean */
    if (r->state == STATE_DONE) {
        /* Power may have failed before the caller saw finish succeed: finish
         * again, which re-hashes bank B against the signed hash. */
        ctx->resumed = 1;
        ctx->journal_done = 1;
        ctx->patch_pos = ctx->hdr.patch_size + ctx->recipients_size;
        ctx->seg_patch_offset = ctx->patch_pos;
        ctx->seg_index = ctx->hdr.segment_count;
        ctx->out_block = fwd_block_count(ctx->hdr.new_size, ctx->hdr.block_size);
        ctx->skip_below = ctx->hdr.new_size;
        ctx->journal_resume_out = ctx->hdr.new_size;
        ctx->phase = PHASE_END;
        *resume_offset = ctx->patch_pos;
        return FWD_OK;
    }
    /* Bound the journal's claims by the signed header before trusting them. */
    uint32_t blocks = fwd_block_count(ctx->hdr.new_size, ctx->hdr.block_size);
    if (r->segment >= ctx->hdr.segment_count || r->out_block >= blocks ||
        r->patch_offset < (uint64_t)FWD_PREFIX_SIZE + ctx->recipients_size +
                              (uint64_t)(FWD_SEGMENT_HEADER_SIZE + 1) * r->segment ||
        r->patch_offset - ctx->recipients_size >= ctx->hdr.patch_size ||
        r->resume_out > ctx->hdr.new_size || r->resume_out % ctx->hdr.block_size != 0 ||
        (uint64_t)r->out_block * ctx->hdr.block_size > r->resume_out)
        return FWD_OK;
    record from = *r;
    if (ctx->hdr.model_alg != FWD_MODEL_NONE) {
        /* The model lives only in segment 0: read from there again, programming
         * nothing below resume_out (FORMAT.md, "Prediction model"). */
        from.segment = 0;
        from.patch_offset = FWD_PREFIX_SIZE + ctx->recipients_size;
        from.out_block = 0;
        memcpy(from.hash, ctx->hdr.chain_head, FWD_HASH_SIZE);
    }
    /* The journal never holds the content key: unwrap again from the anchored entry. */
    if (ctx->hdr.enc_alg != FWD_ENC_NONE && fwd_enc_resume(ctx, from.patch_offset, from.segment) != FWD_OK)
        return FWD_OK;

    record again = *r;
    again.attempts++;
    if ((st = write_record(ctx, &again)) != FWD_OK)
        return st;
    ctx->journal_attempts = again.attempts;
    ctx->journal_resume_out = r->resume_out;
    ctx->seg_index = from.segment;
    ctx->seg_patch_offset = from.patch_offset;
    ctx->patch_pos = from.patch_offset;
    ctx->out_block = from.out_block;
    ctx->skip_below = r->resume_out;
    ctx->erased_upto = r->resume_out;
    ctx->sector_start = r->resume_out;
    ctx->out_pos = r->resume_out;
    memcpy(ctx->expect_hash, from.hash, FWD_HASH_SIZE);
    ctx->phase = PHASE_SEG_HEADER;
    ctx->resumed = 1;
    *resume_offset = from.patch_offset;
    return FWD_OK;
}

int fwd_journal_start(fwd_apply_state *ctx)
{
    const fwd_apply_config *cfg = ctx->cfg;
    if (cfg->journal_size == 0)
        return FWD_OK;
    ctx->journal_resume_out = 0;
    ctx->journal_attempts = 0;
    return write_anchor(ctx, (ctx->journal_sector + 1) % sector_count(cfg), ANCHOR_MAGIC);
}

/* After a segment is programmed and verified: record the newest erase-sector
 * boundary below which bank B is final, with the segment to restart from. */
int fwd_journal_checkpoint(fwd_apply_state *ctx)
{
    if (ctx->cfg->journal_size == 0)
        return FWD_OK;
    uint32_t end = ctx->out_end;
    uint32_t boundary = end == ctx->erased_upto ? end : ctx->sector_start;
    if (boundary <= ctx->journal_resume_out || (boundary == end && ctx->seg_index >= ctx->hdr.segment_count))
        return FWD_OK;
    record r = { .resume_out = boundary, .state = STATE_APPLYING };
    if (boundary == end) { /* restart at the next segment */
        r.segment = ctx->seg_index;
        r.patch_offset = ctx->patch_pos;
        r.out_block = ctx->out_block;
        memcpy(r.hash, ctx->expect_hash, FWD_HASH_SIZE);
    } else {               /* the boundary lies inside the segment just done */
        r.segment = ctx->seg_index - 1;
        r.patch_offset = ctx->seg_patch_offset;
        r.out_block = ctx->out_block - ctx->seg.out_blocks;
        memcpy(r.hash, ctx->seg_hash, FWD_HASH_SIZE);
    }
    ctx->journal_resume_out = boundary;
    ctx->journal_attempts = 0;
    return write_record(ctx, &r);
}

int fwd_journal_done(fwd_apply_state *ctx)
{
    if (ctx->cfg->journal_size == 0 || ctx->journal_done)
        return FWD_OK;
    record r = { .state = STATE_DONE, .resume_out = ctx->hdr.new_size, .segment = ctx->hdr.segment_count,
                 .patch_offset = ctx->patch_pos };
    return write_record(ctx, &r);
}
