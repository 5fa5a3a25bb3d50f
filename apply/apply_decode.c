/* Runs a verified payload through its codec into the operation interpreter.
 * A segment whose header has the stored flag holds the operations as they are.
 *
 * The range coder (codec 2) decodes straight from the payload buffer: the
 * interpreter's state says which field comes next, the shared model
 * (common/fwd_rc.c) decodes it. Output matches read the new image back from
 * bank B, or from the program buffer for bytes not yet flushed: no window.
 *
 * zstd (codec 1, FWD_APPLY_CODEC_ZSTD) uses the buffer-less API into a ring
 * of 2 x window + 64 bytes: a block (at most one window) is decoded next to
 * the previous one, and decoding wraps to the start of the ring only once at
 * least a window of history lies behind. That is safe because literals never
 * go into the ring: the build's literal buffer (ZSTD_DECODER_INTERNAL_BUFFER)
 * holds a whole block, which FWD_APPLY_MAX_WINDOW_LOG is chosen to respect. */
#include <string.h>

#include "apply_internal.h"

#if FWD_APPLY_CODEC_ZSTD
#define ZSTD_STATIC_LINKING_ONLY
#include <zstd.h>

#define WILDCOPY_MARGIN 32u

static int decode_zstd(fwd_apply_state *ctx, const uint8_t *src, size_t left)
{
    ZSTD_DCtx *d = ZSTD_initStaticDCtx(ctx->scratch.zstd, sizeof(ctx->scratch.zstd));
    if (d == NULL)
        return FWD_ERR_CONFIG;

    ZSTD_frameHeader fh;
    if (ZSTD_getFrameHeader(&fh, src, left) != 0 || fh.frameType != ZSTD_frame || fh.dictID != 0 ||
        fh.windowSize > (1ull << ctx->hdr.window_log) || fh.blockSizeMax > (1u << ctx->hdr.window_log))
        return FWD_ERR_CORRUPT;
    if (ZSTD_isError(ZSTD_decompressBegin(d)))
        return FWD_ERR_CORRUPT;

    uint32_t ring_size = fwd_ring_size(ctx->hdr.window_log);
    uint32_t block_max = fh.blockSizeMax;
    uint32_t pos = 0;
    size_t need;
    while ((need = ZSTD_nextSrcSizeToDecompress(d)) != 0) {
        if (need > left)
            return FWD_ERR_CORRUPT;
        if (ring_size - pos < block_max + WILDCOPY_MARGIN)
            pos = 0;
        size_t got = ZSTD_decompressContinue(d, ctx->ring + pos, block_max, src, need);
        if (ZSTD_isError(got))
            return FWD_ERR_CORRUPT;
        src += need;
        left -= need;
        int st = fwd_ops_feed(ctx, ctx->ring + pos, got);
        if (st != FWD_OK)
            return st;
        pos += (uint32_t)got;
    }
    return left == 0 ? FWD_OK : FWD_ERR_CORRUPT;
}
#endif

#define PIECE 64u /* bytes decoded or read back before they go to the interpreter */

/* An output match: len bytes from dist back in the new image. The source
 * lies below out_pos: in bank B below the program offset (programmed and
 * read back, or below skip_below when resumed), else in the program buffer.
 * Pieces are at most dist long, so an overlapping match repeats itself. */
static int copy_match(fwd_apply_state *ctx, uint32_t len, uint32_t dist)
{
    if (len > ctx->op_left || dist == 0 || dist > ctx->out_pos)
        return FWD_ERR_BAD_OPS;
    uint8_t tmp[PIECE];
    while (len > 0) {
        uint32_t src = ctx->out_pos - dist;
        uint32_t n = len < dist ? len : dist;
        if (n > PIECE)
            n = PIECE;
        if (src < ctx->prog_off) {
            if (n > ctx->prog_off - src)
                n = ctx->prog_off - src;
            if (ctx->cfg->read(ctx->cfg->user, FWD_AREA_NEW, src, tmp, n) != 0)
                return FWD_ERR_FLASH_IO;
        } else {
            memcpy(tmp, ctx->prog_buf + (src - ctx->prog_off), n);
        }
        int st = fwd_ops_feed(ctx, tmp, n);
        if (st != FWD_OK)
            return st;
        len -= n;
    }
    return FWD_OK;
}

/* Literals of an insert up to the next match (or a piece's worth). A match
 * flag precedes each literal that leaves room for a match after it. */
static int rc_insert(fwd_apply_state *ctx, fwd_rc *rc, fwd_rc_model *m)
{
    uint8_t tmp[PIECE];
    uint32_t left = ctx->op_left, n = left < PIECE ? left : PIECE;
    uint32_t flagged = left >= FWD_RC_MATCH_MIN ? left - FWD_RC_MATCH_MIN + 1 : 0;
    uint32_t k = fwd_rc_decode_literals(rc, m, tmp, n, flagged);
    int st = fwd_ops_feed(ctx, tmp, k);
    if (st != FWD_OK || k == n)
        return st;
    uint32_t len = fwd_rc_match_len(rc, m, 0);
    return copy_match(ctx, len, fwd_rc_match_dist(rc, m, 0));
}

/* The next field the interpreter expects. */
static int rc_step(fwd_apply_state *ctx, fwd_rc *rc, fwd_rc_model *m)
{
    uint8_t tmp[PIECE];
    switch (ctx->op_state) {
    case OS_TAG: {
        unsigned kind = fwd_rc_kind(rc, m, 0);
        uint32_t len = fwd_rc_len(rc, m, kind, 0);
        if (len > UINT32_MAX >> 2)
            return FWD_ERR_BAD_OPS;
        return fwd_ops_value(ctx, len << 2 | kind);
    }
    case OS_DELTA: return fwd_ops_value(ctx, fwd_rc_delta(rc, m, 0));
    case OS_ZEROS: {
        uint32_t zeros = ctx->op_left, raw = 0; /* the rest of the copy unchanged */
        if (!fwd_rc_rest(rc, m, 0)) {
            zeros = fwd_rc_zeros(rc, m, 0);
            raw = fwd_rc_raw(rc, m, zeros, 0);
        }
        int st = fwd_ops_value(ctx, zeros);
        return st != FWD_OK ? st : fwd_ops_value(ctx, raw);
    }
    case OS_RAW: {
        uint32_t k = ctx->run_left < PIECE ? ctx->run_left : PIECE;
        for (uint32_t i = 0; i < k; i++)
            tmp[i] = fwd_rc_residual(rc, m, 0);
        return fwd_ops_feed(ctx, tmp, k);
    }
    case OS_INSERT: return rc_insert(ctx, rc, m);
    case OS_FILL: tmp[0] = fwd_rc_literal(rc, m, 0); return fwd_ops_feed(ctx, tmp, 1);
    default: return FWD_ERR_INTERNAL;
    }
}

/* Decodes until the segment's output is complete; the stream must end
 * exactly there. A decoder that ran past its input stops at once (it would
 * otherwise read zeros, and an EXT loop produces no output). */
static int decode_rc(fwd_apply_state *ctx, const uint8_t *src, uint32_t len)
{
    fwd_rc rc;
    fwd_rc_model *m = &ctx->scratch.rc.m;
    fwd_rc_decode_init(&rc, src, len);
    fwd_rc_model_reset(m, ctx->scratch.rc.residual, ctx->hdr.rc_contexts);
    int st = FWD_OK;
    while (st == FWD_OK && !(ctx->op_state == OS_TAG && ctx->out_pos == ctx->out_end)) {
        if (rc.error)
            return FWD_ERR_CORRUPT;
        st = rc_step(ctx, &rc, m);
    }
    if (st == FWD_OK && !fwd_rc_decode_done(&rc))
        st = FWD_ERR_CORRUPT;
    return st;
}

int fwd_decode_payload(fwd_apply_state *ctx)
{
    const uint8_t *src = ctx->payload;
    uint32_t len = ctx->seg.payload_len;
    if (ctx->hdr.codec == FWD_CODEC_STORED || ctx->seg.stored)
        return fwd_ops_feed(ctx, src, len);
#if FWD_APPLY_CODEC_ZSTD
    if (ctx->hdr.codec == FWD_CODEC_ZSTD)
        return decode_zstd(ctx, src, len);
#endif
    /* zstd patches were refused with the prefix when zstd is not built in */
    return decode_rc(ctx, src, len);
}
