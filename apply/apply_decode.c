/* Runs a verified payload through its codec into the operation interpreter.
 *
 * zstd uses the buffer-less API into a ring of 2 x window + 64 bytes: a block
 * (at most one window) is decoded next to the previous one, and decoding
 * wraps to the start of the ring only once at least a window of history lies
 * behind. That is safe because literals never go into the ring: the build's
 * literal buffer (ZSTD_DECODER_INTERNAL_BUFFER) holds a whole block, which
 * FWD_APPLY_MAX_WINDOW_LOG is chosen to respect. */
#define ZSTD_STATIC_LINKING_ONLY
#include <zstd.h>

#include "apply_internal.h"

#define WILDCOPY_MARGIN 32u

static int decode_zstd(fwd_apply_state *ctx)
{
    ZSTD_DCtx *d = ZSTD_initStaticDCtx(ctx->scratch.zstd, sizeof(ctx->scratch.zstd));
    if (d == NULL)
        return FWD_ERR_CONFIG;
    const uint8_t *src = ctx->payload;
    size_t left = ctx->seg.payload_len;

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

int fwd_decode_payload(fwd_apply_state *ctx)
{
    if (ctx->hdr.codec == FWD_CODEC_STORED)
        return fwd_ops_feed(ctx, ctx->payload, ctx->seg.payload_len);
    return decode_zstd(ctx);
}
