/* The model segment (FORMAT.md, "Prediction model"): segment 0 of a model
 * patch, decoded whole and parsed into the map the predictor uses for every
 * later copy. */
#include <string.h>

#include "apply_internal.h"

#if FWD_APPLY_MODEL
#if FWD_APPLY_CODEC_ZSTD
#define ZSTD_STATIC_LINKING_ONLY
#include <zstd.h>

/* Into the ring, free between segments. */
static int model_zstd(fwd_apply_state *ctx, const uint8_t *src, size_t n, const uint8_t **model, size_t *len)
{
    ZSTD_DCtx *d = ZSTD_initStaticDCtx(ctx->scratch.zstd, sizeof(ctx->scratch.zstd));
    if (d == NULL)
        return FWD_ERR_CONFIG;
    ZSTD_frameHeader fh;
    if (ZSTD_getFrameHeader(&fh, src, n) != 0 || fh.windowSize > (1ull << ctx->hdr.window_log))
        return FWD_ERR_CORRUPT;
    n = ZSTD_decompressDCtx(d, ctx->ring, fwd_ring_size(ctx->hdr.window_log), src, n);
    if (ZSTD_isError(n))
        return FWD_ERR_CORRUPT;
    *model = ctx->ring;
    *len = n;
    return FWD_OK;
}
#endif

/* In place in the payload buffer: the coded bytes move to the end of the
 * max_payload bytes the header promises, and the model is decoded from the
 * start. The generator keeps coded + decoded within max_payload, so the
 * output never reaches input not yet read. */
static int model_rc(fwd_apply_state *ctx, uint32_t coded)
{
    uint32_t size = ctx->hdr.model_size, cap = ctx->hdr.max_payload;
    if (coded > cap - size) /* model_size <= max_payload: checked with the prefix */
        return FWD_ERR_CORRUPT;
    uint8_t *in = ctx->payload + cap - coded;
    memmove(in, ctx->payload, coded);
    fwd_rc rc;
    fwd_rc_decode_init(&rc, in, coded);
    fwd_rc_model_reset(&ctx->scratch.rc.m, ctx->scratch.rc.residual, ctx->hdr.rc_contexts);
    for (uint32_t i = 0; i < size; i++)
        ctx->payload[i] = fwd_rc_literal(&rc, &ctx->scratch.rc.m, 0);
    return fwd_rc_decode_done(&rc) ? FWD_OK : FWD_ERR_CORRUPT;
}

int fwd_model_segment(fwd_apply_state *ctx)
{
    const uint8_t *model = ctx->payload;
    size_t n = ctx->seg.payload_len;
    int st = FWD_OK;
    if (ctx->hdr.codec != FWD_CODEC_STORED && !ctx->seg.stored) {
#if FWD_APPLY_CODEC_ZSTD
        if (ctx->hdr.codec == FWD_CODEC_ZSTD)
            st = model_zstd(ctx, model, n, &model, &n);
        else
#endif
        {
            st = model_rc(ctx, (uint32_t)n);
            n = ctx->hdr.model_size;
        }
    }
    if (st != FWD_OK)
        return st;
    if (n != ctx->hdr.model_size)
        return FWD_ERR_CORRUPT;
    st = fwd_model_decode(model, n, &ctx->model);
    ctx->model.arch = ctx->hdr.model_alg;
    return st == FWD_OK && ctx->model.n != ctx->hdr.model_entries ? FWD_ERR_CORRUPT : st;
}
#endif
