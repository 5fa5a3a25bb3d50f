/* Bank B writer: erase each sector before its first program, program in
 * FWD_APPLY_PROG_BUF chunks padded to the program unit, and read every chunk
 * back. What the whole image must be is checked once, against the signed
 * new_sha256, when the apply finishes. */
#include <string.h>

#include "apply_internal.h"
#include "fwd_assert.h"

/* A chunk padded to any supported program unit fits the buffer. */
_Static_assert((FWD_APPLY_PROG_BUF & (FWD_APPLY_PROG_BUF - 1)) == 0 && FWD_APPLY_PROG_BUF >= 256 &&
                   FWD_APPLY_PROG_BUF <= FWD_APPLY_PROG_MAX,
               "the program buffer must be a power of two of at least the largest program unit, and at most "
               "what one prog call may be given");

void fwd_out_begin(fwd_apply_state *ctx, uint32_t start, uint32_t end)
{
    ctx->out_pos = start;
    ctx->out_end = end;
    ctx->prog_off = start;
    ctx->prog_fill = 0;
}

static int ensure_erased(fwd_apply_state *ctx, uint32_t end)
{
    const fwd_apply_config *cfg = ctx->cfg;
    while (ctx->erased_upto < end) {
        uint32_t size = cfg->sector_size ? cfg->sector_size(cfg->user, ctx->erased_upto) : cfg->block_size;
        if (size == 0 || size % cfg->block_size != 0 || (uint64_t)ctx->erased_upto + size > cfg->new_bank_size)
            return FWD_ERR_CONFIG;
        /* The signature's second check, independent of the first branch. */
        int st = fwd_signature_holds(ctx);
        if (st != FWD_OK)
            return st;
        ctx->erases++;
        if (cfg->erase(cfg->user, FWD_AREA_NEW, ctx->erased_upto, size) != 0)
            return FWD_ERR_FLASH_IO;
        ctx->sector_start = ctx->erased_upto;
        ctx->erased_upto += size;
    }
    return FWD_OK;
}

static int flush(fwd_apply_state *ctx)
{
    const fwd_apply_config *cfg = ctx->cfg;
    uint32_t fill = ctx->prog_fill;
    uint32_t off = ctx->prog_off;
    if (fill == 0)
        return FWD_OK;
    ctx->prog_off += fill;
    ctx->prog_fill = 0;
    if (off < ctx->skip_below) /* resumed: this chunk was programmed and checked before the cut */
        return FWD_OK;

    uint32_t len = (fill + cfg->prog_size - 1) & ~(cfg->prog_size - 1);
    FWD_ASSERT(len <= FWD_APPLY_PROG_BUF);
    memset(ctx->prog_buf + fill, 0xFF, len - fill);
    int st = ensure_erased(ctx, off + len);
    if (st != FWD_OK)
        return st;
    uint8_t all = 0xFF;
    for (uint32_t i = 0; i < len; i++)
        all &= ctx->prog_buf[i];
    if (all != 0xFF && cfg->prog(cfg->user, FWD_AREA_NEW, off, ctx->prog_buf, len) != 0)
        return FWD_ERR_FLASH_IO;
    for (uint32_t done = 0; done < len; done += FWD_APPLY_CHECK_BUF) {
        uint32_t n = len - done < FWD_APPLY_CHECK_BUF ? len - done : FWD_APPLY_CHECK_BUF;
        if (cfg->read(cfg->user, FWD_AREA_NEW, off + done, ctx->check_buf, n) != 0)
            return FWD_ERR_FLASH_IO;
        if (memcmp(ctx->check_buf, ctx->prog_buf + done, n) != 0)
            return FWD_ERR_FLASH_VERIFY;
    }
    return FWD_OK;
}

int fwd_out_emit(fwd_apply_state *ctx, const uint8_t *p, uint32_t n)
{
    /* Callers bound n by the operation length, itself bounded by out_end. */
    FWD_ASSERT(n <= ctx->out_end - ctx->out_pos);
    ctx->out_pos += n;
    while (n > 0) {
        uint32_t k = FWD_APPLY_PROG_BUF - ctx->prog_fill;
        if (k > n)
            k = n;
        memcpy(ctx->prog_buf + ctx->prog_fill, p, k);
        ctx->prog_fill += k;
        p += k;
        n -= k;
        if (ctx->prog_fill == FWD_APPLY_PROG_BUF) {
            int st = flush(ctx);
            if (st != FWD_OK)
                return st;
        }
    }
    return FWD_OK;
}

int fwd_out_end(fwd_apply_state *ctx) { return flush(ctx); }

/* Hashes the first size bytes of an area, using the payload buffer as the
 * read window: it is free whenever this runs (init and finish). */
int fwd_hash_area(fwd_apply_state *ctx, fwd_area area, uint32_t size, uint8_t out[FWD_HASH_SIZE])
{
    const fwd_apply_config *cfg = ctx->cfg;
    fwd_sha256_ctx sha;
    fwd_sha256_start(&sha);
    uint32_t chunk = ctx->payload_cap < 4096u ? ctx->payload_cap : 4096u;
    for (uint32_t off = 0; off < size;) {
        uint32_t n = size - off < chunk ? size - off : chunk;
        if (cfg->read(cfg->user, area, off, ctx->payload, n) != 0) {
            fwd_sha256_finish(&sha, out); /* frees the state; out is not a result */
            return FWD_ERR_FLASH_IO;
        }
        fwd_sha256_update(&sha, ctx->payload, n);
        off += n;
    }
    fwd_sha256_finish(&sha, out);
    return FWD_OK;
}
