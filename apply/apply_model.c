/* The model segment (FORMAT.md, "Prediction model"): segment 0 of a model
 * patch, decoded whole into the ring (free between segments) and parsed into
 * the map the predictor uses for every later copy. */
#define ZSTD_STATIC_LINKING_ONLY
#include <string.h>
#include <zstd.h>

#include "apply_internal.h"

#if FWD_APPLY_MODEL
int fwd_model_segment(fwd_apply_state *ctx)
{
    const uint8_t *model = ctx->payload;
    size_t n = ctx->seg.payload_len;
    if (ctx->hdr.codec == FWD_CODEC_ZSTD) {
        ZSTD_DCtx *d = ZSTD_initStaticDCtx(ctx->scratch.zstd, sizeof(ctx->scratch.zstd));
        if (d == NULL)
            return FWD_ERR_CONFIG;
        ZSTD_frameHeader fh;
        if (ZSTD_getFrameHeader(&fh, ctx->payload, n) != 0 || fh.windowSize > (1ull << ctx->hdr.window_log))
            return FWD_ERR_CORRUPT;
        n = ZSTD_decompressDCtx(d, ctx->ring, fwd_ring_size(ctx->hdr.window_log), ctx->payload, n);
        if (ZSTD_isError(n))
            return FWD_ERR_CORRUPT;
        model = ctx->ring;
    }
    if (n != ctx->hdr.model_size)
        return FWD_ERR_CORRUPT;
    int st = fwd_model_decode(model, n, &ctx->model);
    ctx->model.arch = ctx->hdr.model_alg;
    return st;
}
#endif
