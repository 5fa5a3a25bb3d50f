/* The applier's entry points and the patch stream state machine: prefix,
 * then for each segment its header and payload, hashed as they arrive and
 * applied only once the whole segment matches the chain. */
#include <string.h>

#include "apply_internal.h"

static int fail(fwd_apply_state *ctx, int st)
{
    fwd_enc_wipe(ctx);
    ctx->status = st;
    ctx->phase = PHASE_FAILED;
    return st;
}

/* A segment that matched the signed chain, or a finish whose signed hash
 * failed, fails the same way at every try: the journal marks the patch failed
 * so that it is not retried without the caller's decision (FWD_APPLY_RESTART).
 * Flash errors may pass; they are left to the resume. */
static int signed_failure(fwd_apply_state *ctx, int st)
{
    if (st == FWD_OK || st == FWD_ERR_FLASH_IO || st == FWD_ERR_FLASH_VERIFY || st == FWD_ERR_JOURNAL ||
        st == FWD_ERR_CONFIG)
        return st;
    (void)fwd_journal_end(ctx, FWD_J_FAILED); /* if it cannot be written, the resume cap still ends the loop */
    return st;
}

static int check_config(const fwd_apply_config *cfg)
{
    if (!cfg->read || !cfg->prog || !cfg->erase || cfg->pubkey_count == 0 || cfg->pubkey_count > FWD_APPLY_MAX_KEYS ||
        !cfg->pubkeys)
        return FWD_ERR_CONFIG;
    if (cfg->prog_size == 0 || cfg->prog_size > FWD_APPLY_PROG_BUF || (cfg->prog_size & (cfg->prog_size - 1)))
        return FWD_ERR_CONFIG;
    if (cfg->block_size < FWD_BLOCK_SIZE_MIN || cfg->block_size > FWD_BLOCK_SIZE_MAX ||
        (cfg->block_size & (cfg->block_size - 1)))
        return FWD_ERR_CONFIG;
    if (cfg->max_window_log > FWD_APPLY_MAX_WINDOW_LOG || cfg->max_payload > FWD_APPLY_MAX_PAYLOAD)
        return FWD_ERR_CONFIG;
    if (cfg->require_encryption && (!cfg->device_key || !FWD_APPLY_ENCRYPTION))
        return FWD_ERR_CONFIG; /* could apply nothing */
    if (cfg->journal_size != 0) {
        /* Two sectors at least, each with room for an anchor and two records. */
        uint32_t js = cfg->journal_sector_size;
        if (js == 0 || cfg->journal_size % js != 0 || cfg->journal_size / js < 2 || js < 2048 ||
            js % cfg->prog_size != 0)
            return FWD_ERR_JOURNAL;
    }
    return FWD_OK;
}

/* Does the caller's context match this library's layout? */
static int check_build(const fwd_apply_build *b)
{
    static const fwd_apply_build mine = FWD_APPLY_BUILD_INIT;
    if (b->api_version != mine.api_version || b->ctx_size != mine.ctx_size || b->max_payload != mine.max_payload ||
        b->zstd_workspace != mine.zstd_workspace || b->max_window_log != mine.max_window_log || b->max_keys != mine.max_keys || b->model != mine.model ||
        b->model_entries != mine.model_entries || b->rc_contexts != mine.rc_contexts || b->encryption != mine.encryption || b->codec_zstd != mine.codec_zstd)
        return FWD_ERR_BUILD_MISMATCH;
    return FWD_OK;
}

fwd_status fwd_apply_init_build(fwd_apply_ctx *pub, const fwd_apply_build *build, const fwd_apply_config *cfg,
                         unsigned flags, uint32_t *resume_offset)
{
    /* Checked before the first byte is written: a smaller context than ours
     * must not be cleared to our size. */
    int st = check_build(build);
    if (st != FWD_OK)
        return st;
    fwd_apply_state *ctx = fwd_state(pub);
    /* Only the small state is cleared: the large buffers are always written
     * before they are read, and clearing them would cost a device time. */
    memset(ctx, 0, offsetof(fwd_apply_state, payload));
#if FWD_APPLY_MODEL
    ctx->model = (fwd_model){ .cap = FWD_APPLY_MODEL_ENTRIES, .start = ctx->model_start, .shift = ctx->model_shift };
#endif
    ctx->cfg = cfg;
    *resume_offset = 0;
    st = check_config(cfg);
    if (st != FWD_OK)
        return fail(ctx, st);
    ctx->window_cap = cfg->max_window_log ? cfg->max_window_log : FWD_APPLY_MAX_WINDOW_LOG;
    ctx->payload_cap = cfg->max_payload ? cfg->max_payload : FWD_APPLY_MAX_PAYLOAD;
    if (ctx->payload_cap < 1024)
        return fail(ctx, FWD_ERR_CONFIG); /* also the journal's and hashing's scratch */
    ctx->phase = PHASE_PREFIX;
    st = fwd_journal_load(ctx, flags, resume_offset);
    if (st != FWD_OK)
        return fail(ctx, st);
    return FWD_OK;
}

/* The prefix is complete: verify it, then read the recipients area of an
 * encrypted patch, or go straight to the first segment. */
static int start_fresh(fwd_apply_state *ctx)
{
    fwd_enc_reset(ctx); /* a journal scan may have left another patch's area */
    int st = fwd_accept_prefix(ctx);
    if (st != FWD_OK)
        return st;
    if (ctx->hdr.enc_alg != FWD_ENC_NONE) {
        ctx->phase = PHASE_RECIPIENTS;
        return FWD_OK;
    }
    return fwd_begin_segments(ctx);
}

int fwd_begin_segments(fwd_apply_state *ctx)
{
    /* A model patch's anchor holds its map: written once segment 0 is decoded. */
    int st = ctx->hdr.model_alg == FWD_MODEL_NONE ? fwd_journal_start(ctx) : FWD_OK;
    if (st != FWD_OK)
        return st;
    memcpy(ctx->expect_hash, ctx->hdr.chain_head, FWD_HASH_SIZE);
    ctx->seg_patch_offset = ctx->patch_pos;
    ctx->phase = ctx->hdr.segment_count == 0 ? PHASE_END : PHASE_SEG_HEADER;
    return FWD_OK;
}

static int begin_segment(fwd_apply_state *ctx)
{
    fwd_segment_header_decode(ctx->seg_raw, &ctx->seg);
    int st = fwd_segment_payload_check(&ctx->hdr, &ctx->seg);
    if (st != FWD_OK)
        return st;
    fwd_sha256_start(&ctx->chain_sha);
    fwd_sha256_update(&ctx->chain_sha, ctx->seg_raw, FWD_SEGMENT_HEADER_SIZE);
    ctx->phase = PHASE_PAYLOAD;
    return FWD_OK;
}

/* Segment 0 of a model patch (its place checked): the map. */
static int model_segment(fwd_apply_state *ctx)
{
#if FWD_APPLY_MODEL
    fwd_decrypt_payload(ctx);
    int st = fwd_model_segment(ctx);
    if (st == FWD_OK && !ctx->journal_open)
        st = fwd_journal_start(ctx);
    if (st != FWD_OK)
        return st;
    memcpy(ctx->seg_hash, ctx->expect_hash, FWD_HASH_SIZE);
    memcpy(ctx->expect_hash, ctx->seg.next_hash, FWD_HASH_SIZE);
    ctx->seg_index++;
    ctx->seg_patch_offset = ctx->patch_pos;
    ctx->phase = PHASE_SEG_HEADER;
    return FWD_OK;
#else
    (void)ctx;
    return FWD_ERR_UNSUPPORTED_ALGORITHM;
#endif
}

/* The payload is complete: check it against the chain, then apply it. */
static int end_segment(fwd_apply_state *ctx)
{
    const fwd_header *h = &ctx->hdr;
    uint8_t got[FWD_HASH_SIZE];
    fwd_sha256_finish(&ctx->chain_sha, got);
    ctx->chain_verdict = fwd_verdict_equal(got, ctx->expect_hash, FWD_HASH_SIZE);
    if (memcmp(got, ctx->expect_hash, FWD_HASH_SIZE) != 0)
        return FWD_ERR_CHAIN;

    int last = ctx->seg_index + 1 == h->segment_count;
    int st = fwd_segment_place_check(h, &ctx->seg, ctx->seg_index, ctx->out_block);
    if (st != FWD_OK)
        return signed_failure(ctx, st);
    if (ctx->seg_index == 0 && h->model_alg != FWD_MODEL_NONE)
        return signed_failure(ctx, model_segment(ctx));

    if (ctx->chain_verdict != FWD_VERDICT_OK)
        return FWD_ERR_CHAIN; /* the chain's second check, before any output */
    uint32_t start = ctx->out_block * h->block_size;
    uint64_t end = (uint64_t)(ctx->out_block + ctx->seg.out_blocks) * h->block_size;
    fwd_out_begin(ctx, start, end < h->new_size ? (uint32_t)end : h->new_size);
    fwd_ops_begin(ctx);
    fwd_decrypt_payload(ctx);
    st = fwd_decode_payload(ctx);
    if (st == FWD_OK)
        st = fwd_ops_end(ctx);
    if (st == FWD_OK)
        st = fwd_out_end(ctx);
    if (st != FWD_OK)
        return signed_failure(ctx, st);

    memcpy(ctx->seg_hash, ctx->expect_hash, FWD_HASH_SIZE);
    memcpy(ctx->expect_hash, ctx->seg.next_hash, FWD_HASH_SIZE);
    ctx->seg_index++;
    ctx->out_block += ctx->seg.out_blocks;
    st = fwd_journal_checkpoint(ctx);
    ctx->seg_patch_offset = ctx->patch_pos;
    ctx->phase = last ? PHASE_END : PHASE_SEG_HEADER;
    if (st == FWD_OK && last && ctx->patch_pos - ctx->recipients_size != h->patch_size)
        st = signed_failure(ctx, FWD_ERR_BAD_HEADER); /* signed patch_size disagrees with the segments */
    return st;
}

/* Copies up to want - ctx->fill bytes into dst + ctx->fill. */
static size_t gather(fwd_apply_state *ctx, uint8_t *dst, uint32_t want, const uint8_t *p, size_t n)
{
    size_t k = want - ctx->fill;
    if (k > n)
        k = n;
    memcpy(dst + ctx->fill, p, k);
    ctx->fill += (uint32_t)k;
    ctx->patch_pos += (uint32_t)k;
    return k;
}

fwd_status fwd_apply_feed(fwd_apply_ctx *pub, const void *data, size_t len)
{
    fwd_apply_state *ctx = fwd_state(pub);
    const uint8_t *p = data;
    if (ctx->phase == PHASE_FAILED)
        return ctx->status;
    if (ctx->phase == PHASE_DONE)
        return fail(ctx, FWD_ERR_STATE);
    while (len > 0) {
        size_t k;
        int st = FWD_OK;
        switch (ctx->phase) {
        case PHASE_PREFIX:
            k = gather(ctx, ctx->prefix, FWD_PREFIX_SIZE, p, len);
            if (ctx->fill == FWD_PREFIX_SIZE) {
                ctx->fill = 0;
                st = start_fresh(ctx);
            }
            break;
        case PHASE_RECIPIENTS: {
            uint32_t want = fwd_recipients_want(ctx);
            k = gather(ctx, ctx->payload, want, p, len);
            if (ctx->fill == want) {
                int done;
                ctx->fill = 0;
                st = fwd_recipients_item(ctx, &done);
                if (st == FWD_OK && done)
                    st = fwd_begin_segments(ctx);
            }
            break;
        }
        case PHASE_SEG_HEADER:
            k = gather(ctx, ctx->seg_raw, FWD_SEGMENT_HEADER_SIZE, p, len);
            if (ctx->fill == FWD_SEGMENT_HEADER_SIZE) {
                ctx->fill = 0;
                st = begin_segment(ctx);
            }
            break;
        case PHASE_PAYLOAD:
            k = gather(ctx, ctx->payload, ctx->seg.payload_len, p, len);
            fwd_sha256_update(&ctx->chain_sha, p, k);
            if (ctx->fill == ctx->seg.payload_len) {
                ctx->fill = 0;
                st = end_segment(ctx);
            }
            break;
        default:
            return fail(ctx, FWD_ERR_TRAILING_DATA);
        }
        if (st != FWD_OK)
            return fail(ctx, st);
        p += k;
        len -= k;
    }
    return FWD_OK;
}

fwd_status fwd_apply_finish(fwd_apply_ctx *pub)
{
    fwd_apply_state *ctx = fwd_state(pub);
    if (ctx->phase == PHASE_FAILED)
        return ctx->status;
    if (ctx->phase == PHASE_DONE)
        return FWD_OK;
    if (ctx->phase != PHASE_END)
        return fail(ctx, FWD_ERR_INCOMPLETE);
    uint8_t h[FWD_HASH_SIZE];
    int st = fwd_hash_area(ctx, FWD_AREA_NEW, ctx->hdr.new_size, h);
    uint32_t verdict = fwd_verdict_equal(h, ctx->hdr.new_sha256, FWD_HASH_SIZE);
    if (st == FWD_OK && memcmp(h, ctx->hdr.new_sha256, FWD_HASH_SIZE) != 0) {
        /* A DONE entry whose bank B no longer matches (written over since, or
         * a stale entry) is demoted: the next init starts clean. */
        st = FWD_ERR_NEW_HASH;
        if (ctx->journal_done)
            (void)fwd_journal_end(ctx, FWD_J_CLEAR);
        else
            signed_failure(ctx, st);
    }
    /* Second checks of the final hash and of the signature, each computed
     * apart from the branch above, before DONE is recorded. */
    if (st == FWD_OK && (verdict != FWD_VERDICT_OK || fwd_signature_holds(ctx) != FWD_OK))
        st = FWD_ERR_NEW_HASH;
    if (st == FWD_OK)
        st = fwd_journal_end(ctx, FWD_J_DONE);
    if (st != FWD_OK)
        return fail(ctx, st);
    fwd_enc_wipe(ctx);
    ctx->phase = PHASE_DONE;
    return FWD_OK;
}

void fwd_apply_get_info(const fwd_apply_ctx *pub, fwd_apply_info *info)
{
    const fwd_apply_state *ctx = fwd_state_c(pub);
    memset(info, 0, sizeof(*info));
    info->resumed = ctx->resumed;
    memcpy(info->patch_id, ctx->patch_id, FWD_HASH_SIZE);
    info->resume_offset = ctx->seg_patch_offset;
    info->resume_out = ctx->skip_below;
    info->segments_done = ctx->seg_index;
    info->patch_consumed = ctx->patch_pos;
    info->segment_count = ctx->hdr.segment_count;
    info->out_done = ctx->out_block * ctx->hdr.block_size < ctx->hdr.new_size ? ctx->out_block * ctx->hdr.block_size
                                                                               : ctx->hdr.new_size;
    info->new_size = ctx->hdr.new_size;
    info->security_version = ctx->hdr.security_version;
    memcpy(info->new_sha256, ctx->hdr.new_sha256, FWD_HASH_SIZE);
    info->erases = ctx->erases;
    info->fuzzing_unsafe = FWD_SIGNATURE_SKIPPED;
}
