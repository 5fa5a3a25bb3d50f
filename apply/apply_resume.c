/* Resume journal, the decision half: what init does with the newest entry
 * (fwd_journal_policy), and the records an apply writes as it goes. Storage
 * is apply_journal.c's. The written invariant: a record never claims more of
 * bank B than was programmed and read back, and whatever it claims is bounded
 * by the signed header and re-checked against the signed chain and hash. */
#include <string.h>

#include "apply_internal.h"

static uint32_t sector_count(const fwd_apply_config *cfg) { return cfg->journal_size / cfg->journal_sector_size; }

/* What init does with the newest entry (no I/O: testable alone). */
int fwd_journal_policy(const fwd_journal_scan *best, unsigned flags)
{
    if (!best->found || (flags & FWD_APPLY_RESTART))
        return FWD_JP_FRESH;
    switch (best->rec.state) {
    case FWD_J_FAILED:
        return FWD_JP_FAILED;
    case FWD_J_DONE:
        return FWD_JP_FINISH; /* finish re-hashes bank B; a failure there demotes it */
    case FWD_J_APPLYING:
        return best->rec.attempts >= FWD_APPLY_MAX_RESUMES ? FWD_JP_LIMIT : FWD_JP_RESUME;
    default:
        return FWD_JP_FRESH; /* FWD_J_CLEAR, or a state this build does not know */
    }
}

/* The journal's claims, bounded by the signed header before they are trusted. */
static int claims_fit(const fwd_apply_state *ctx, const fwd_journal_record *r)
{
    uint32_t blocks = fwd_block_count(ctx->hdr.new_size, ctx->hdr.block_size);
    return r->segment < ctx->hdr.segment_count && r->out_block < blocks &&
           r->patch_offset >= (uint64_t)FWD_PREFIX_SIZE + ctx->recipients_size +
                                  (uint64_t)(FWD_SEGMENT_HEADER_SIZE + 1) * r->segment &&
           r->patch_offset - ctx->recipients_size < ctx->hdr.patch_size && r->resume_out <= ctx->hdr.new_size &&
           r->resume_out % ctx->hdr.block_size == 0 && (uint64_t)r->out_block * ctx->hdr.block_size <= r->resume_out;
}

/* Power may have failed before the caller saw finish succeed: finish again,
 * which re-hashes bank B against the signed hash. */
static void resume_finish(fwd_apply_state *ctx, uint32_t *resume_offset)
{
    ctx->resumed = 1;
    ctx->journal_done = 1;
    ctx->journal_open = 1;
    ctx->patch_pos = ctx->hdr.patch_size + ctx->recipients_size;
    ctx->seg_patch_offset = ctx->patch_pos;
    ctx->seg_index = ctx->hdr.segment_count;
    ctx->out_block = fwd_block_count(ctx->hdr.new_size, ctx->hdr.block_size);
    ctx->skip_below = ctx->hdr.new_size;
    ctx->journal_resume_out = ctx->hdr.new_size;
    ctx->phase = PHASE_END;
    *resume_offset = ctx->patch_pos;
}

static int model_anchored(const fwd_apply_state *ctx)
{
#if FWD_APPLY_MODEL
    return ctx->model.n != 0; /* fwd_journal_read loaded it with the anchor */
#else
    (void)ctx;
    return 0;
#endif
}

/* Resumes from r; *fresh when the record does not fit the patch or the
 * resume cannot be recorded (start clean instead). */
static int resume(fwd_apply_state *ctx, const fwd_journal_record *r, uint32_t *resume_offset, int *fresh)
{
    *fresh = 1;
    if (!claims_fit(ctx, r))
        return FWD_OK;
    fwd_journal_record from = *r;
    if (ctx->hdr.model_alg != FWD_MODEL_NONE && !model_anchored(ctx)) {
        /* The anchor holds no map: read segment 0 again, programming nothing
         * below resume_out (FORMAT.md, "Journal"). */
        from.segment = 0;
        from.patch_offset = FWD_PREFIX_SIZE + ctx->recipients_size;
        from.out_block = 0;
        memcpy(from.hash, ctx->hdr.chain_head, FWD_HASH_SIZE);
    }
    /* The journal never holds the content key: unwrap again from the anchored entry. */
    if (ctx->hdr.enc_alg != FWD_ENC_NONE && fwd_enc_resume(ctx, from.patch_offset, from.segment) != FWD_OK)
        return FWD_OK;
    fwd_journal_record again = *r;
    again.attempts++; /* counted before any work: a resume that never progresses reaches the cap */
    if (fwd_journal_append(ctx, &again) != FWD_OK)
        return FWD_OK; /* a resume that cannot be counted is not made: start clean (a fresh anchor erases) */
    *fresh = 0;
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
    ctx->journal_open = 1;
    *resume_offset = from.patch_offset;
    return FWD_OK;
}

/* A journalled patch that no longer verifies here (another key, another bank
 * A) is no reason to stop: start clean, as the policy would for no entry. */
static int start_clean(fwd_apply_state *ctx)
{
    fwd_enc_reset(ctx);
    return FWD_OK;
}

int fwd_journal_load(fwd_apply_state *ctx, unsigned flags, uint32_t *resume_offset)
{
    const fwd_apply_config *cfg = ctx->cfg;
    *resume_offset = 0;
    ctx->journal_seq = 0;
    if (cfg->journal_size == 0)
        return FWD_OK; /* no journal: nothing to resume; and no sector count to divide by */
    ctx->journal_sector = sector_count(cfg) - 1; /* nothing found: a fresh start takes sector 0 */
    fwd_journal_scan best;
    fwd_journal_read(ctx, &best);
    if (best.found) {
        ctx->journal_sector = best.sector;
        ctx->journal_slot = best.next_slot;
    }
    int action = fwd_journal_policy(&best, flags);
    if (action == FWD_JP_FRESH)
        return start_clean(ctx);
    int st = fwd_accept_prefix(ctx); /* every verdict stands on signed data only */
    if (st == FWD_ERR_FLASH_IO)
        return st; /* bank A unreadable: nothing can be decided */
    if (st != FWD_OK)
        return start_clean(ctx);
    switch (action) {
    case FWD_JP_FAILED:
        return FWD_ERR_PATCH_FAILED;
    case FWD_JP_LIMIT:
        return FWD_ERR_RESUME_LIMIT;
    case FWD_JP_FINISH:
        resume_finish(ctx, resume_offset);
        return FWD_OK;
    default: {
        int fresh;
        st = resume(ctx, &best.rec, resume_offset, &fresh);
        return fresh ? start_clean(ctx) : st;
    }
    }
}

/* A fresh apply: its anchor goes to the sector after the newest entry's, or
 * the next one that takes it (fwd_journal_anchor). */
int fwd_journal_start(fwd_apply_state *ctx)
{
    const fwd_apply_config *cfg = ctx->cfg;
    if (cfg->journal_size == 0)
        return FWD_OK;
    ctx->journal_resume_out = 0;
    ctx->journal_attempts = 0;
    int st = fwd_journal_anchor(ctx, (ctx->journal_sector + 1) % sector_count(cfg), FWD_J_ANCHOR_MAGIC);
    ctx->journal_open = st == FWD_OK;
    return st;
}

/* After a segment is programmed and verified: record the newest erase-sector
 * boundary below which bank B is final, with the segment to restart from. */
int fwd_journal_checkpoint(fwd_apply_state *ctx)
{
    if (!ctx->journal_open)
        return FWD_OK;
    uint32_t end = ctx->out_end;
    uint32_t boundary = end == ctx->erased_upto ? end : ctx->sector_start;
    if (boundary <= ctx->journal_resume_out || (boundary == end && ctx->seg_index >= ctx->hdr.segment_count))
        return FWD_OK;
    fwd_journal_record r = { .resume_out = boundary, .state = FWD_J_APPLYING };
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
    return fwd_journal_append(ctx, &r);
}

/* Records how the apply ended: FWD_J_DONE after finish, FWD_J_FAILED after a
 * deterministic failure of signed data, FWD_J_CLEAR for a DONE whose finish
 * failed later (the next init starts clean). */
int fwd_journal_end(fwd_apply_state *ctx, uint32_t state)
{
    if (!ctx->journal_open || (state == FWD_J_DONE && ctx->journal_done))
        return FWD_OK;
    fwd_journal_record r = { .state = state, .resume_out = state == FWD_J_DONE ? ctx->hdr.new_size : 0,
                             .segment = ctx->hdr.segment_count, .patch_offset = ctx->patch_pos };
    int st = fwd_journal_append(ctx, &r);
    if (st == FWD_OK)
        ctx->journal_done = state == FWD_J_DONE;
    return st;
}
