/* Interpreter for the operations of a decoded segment (FORMAT.md,
 * "Operations"). It is a byte-driven state machine, so the decoder may hand it
 * output in pieces of any size. Every length and offset is checked against
 * the segment's output and bank A's image before it is used. */
#include <string.h>

#include "apply_internal.h"

void fwd_ops_begin(fwd_apply_state *ctx)
{
    ctx->op_state = OS_TAG;
    ctx->varint = 0;
    ctx->varint_bytes = 0;
    ctx->old_cursor = 0;
    ctx->old_buf_len = 0;
#if FWD_APPLY_MODEL
    ctx->predict = ctx->hdr.model_alg != FWD_MODEL_NONE ? ctx->model.flags : 0;
    ctx->pred_len = 0;
#endif
}

/* Accumulates one varint byte; returns 1 when the value is complete, 0 when
 * more bytes are needed, and a negative status when it is malformed. */
static int varint_step(fwd_apply_state *ctx, uint8_t b)
{
    if (ctx->varint_bytes == FWD_VARINT_MAX_BYTES - 1 && b > 0x0F)
        return FWD_ERR_BAD_OPS; /* over 32 bits */
    ctx->varint |= (uint32_t)(b & 0x7F) << (7 * ctx->varint_bytes);
    ctx->varint_bytes++;
    return (b & 0x80) ? 0 : 1;
}

/* Makes old[ctx->old_pos] available in old_buf; returns the bytes available. */
static int old_window(fwd_apply_state *ctx, uint32_t *avail, const uint8_t **p)
{
    uint32_t pos = ctx->old_pos;
    if (pos < ctx->old_buf_off || pos >= ctx->old_buf_off + ctx->old_buf_len) {
        uint32_t n = ctx->hdr.old_size - pos; /* pos < old_size: checked when the copy began */
        if (n > FWD_APPLY_OLD_BUF)
            n = FWD_APPLY_OLD_BUF;
        const fwd_apply_config *cfg = ctx->cfg;
        if (cfg->read(cfg->user, FWD_AREA_OLD, pos, ctx->old_buf, n) != 0)
            return FWD_ERR_FLASH_IO;
        ctx->old_buf_off = pos;
        ctx->old_buf_len = n;
    }
    *p = ctx->old_buf + (pos - ctx->old_buf_off);
    *avail = ctx->old_buf_off + ctx->old_buf_len - pos;
    return FWD_OK;
}

#if FWD_APPLY_MODEL
_Static_assert(FWD_APPLY_OLD_BUF >= FWD_APPLY_PRED_CHUNK + 2 * FWD_PREDICT_MARGIN, "a prediction window fits old_buf");

/* The predicted bytes at old_pos: old bytes with moved branches and pointers
 * translated (FORMAT.md, "Prediction model"), a chunk at a time. The window
 * read around the chunk is old data too, so it also serves old_window. */
static int predicted_window(fwd_apply_state *ctx, uint32_t *avail, const uint8_t **p)
{
    uint32_t pos = ctx->old_pos;
    if (pos < ctx->pred_off || pos >= ctx->pred_off + ctx->pred_len) {
        fwd_copy *c = &ctx->copy;
        uint32_t end = c->old_pos + c->len; /* pos < end: the copy still has bytes */
        uint32_t to = end - pos < FWD_APPLY_PRED_CHUNK ? end : pos + FWD_APPLY_PRED_CHUNK;
        uint32_t w0 = pos - c->old_pos > FWD_PREDICT_MARGIN ? pos - FWD_PREDICT_MARGIN : c->old_pos;
        uint32_t w1 = end - to > FWD_PREDICT_MARGIN ? to + FWD_PREDICT_MARGIN : end;
        const fwd_apply_config *cfg = ctx->cfg;
        if (cfg->read(cfg->user, FWD_AREA_OLD, w0, ctx->old_buf, w1 - w0) != 0)
            return FWD_ERR_FLASH_IO;
        ctx->old_buf_off = w0;
        ctx->old_buf_len = w1 - w0;
        fwd_model_predict(&ctx->model, ctx->hdr.load_address, ctx->predict, c, ctx->old_buf, w0, w1 - w0, pos, to,
                          ctx->pred_buf);
        ctx->pred_off = pos;
        ctx->pred_len = to - pos;
    }
    *p = ctx->pred_buf + (pos - ctx->pred_off);
    *avail = ctx->pred_off + ctx->pred_len - pos;
    return FWD_OK;
}
#endif

/* The bytes a copy starts from at old_pos: old bytes, or their prediction. */
static int source_window(fwd_apply_state *ctx, uint32_t *avail, const uint8_t **p)
{
#if FWD_APPLY_MODEL
    if (ctx->predict)
        return predicted_window(ctx, avail, p);
#endif
    return old_window(ctx, avail, p);
}

/* Emits n source bytes unchanged (a zero run of the residual). */
static int emit_old(fwd_apply_state *ctx, uint32_t n)
{
    while (n > 0) {
        const uint8_t *p;
        uint32_t k;
        int st = source_window(ctx, &k, &p);
        if (st != FWD_OK)
            return st;
        if (k > n)
            k = n;
        if ((st = fwd_out_emit(ctx, p, k)) != FWD_OK)
            return st;
        ctx->old_pos += k;
        n -= k;
    }
    return FWD_OK;
}

/* Emits source bytes plus residual bytes taken from the input. */
static int emit_raw(fwd_apply_state *ctx, const uint8_t *in, uint32_t n)
{
    uint8_t tmp[64];
    while (n > 0) {
        const uint8_t *p;
        uint32_t k;
        int st = source_window(ctx, &k, &p);
        if (st != FWD_OK)
            return st;
        if (k > n)
            k = n;
        if (k > sizeof(tmp))
            k = sizeof(tmp);
        for (uint32_t i = 0; i < k; i++)
            tmp[i] = (uint8_t)(p[i] + in[i]);
        if ((st = fwd_out_emit(ctx, tmp, k)) != FWD_OK)
            return st;
        ctx->old_pos += k;
        in += k;
        n -= k;
    }
    return FWD_OK;
}

static int emit_fill(fwd_apply_state *ctx, uint8_t value, uint32_t n)
{
    uint8_t tmp[64];
    memset(tmp, value, sizeof(tmp));
    while (n > 0) {
        uint32_t k = n < sizeof(tmp) ? n : (uint32_t)sizeof(tmp);
        int st = fwd_out_emit(ctx, tmp, k);
        if (st != FWD_OK)
            return st;
        n -= k;
    }
    return FWD_OK;
}

/* A complete tag: start the operation it names. */
static int begin_op(fwd_apply_state *ctx, uint32_t tag)
{
    uint32_t len = tag >> 2;
    if ((tag & 3u) == FWD_OP_EXT) { /* switches prediction; produces nothing */
#if FWD_APPLY_MODEL
        if (ctx->hdr.model_alg != FWD_MODEL_NONE && len <= (FWD_PREDICT_BRANCHES | FWD_PREDICT_POINTERS)) {
            ctx->predict = (uint8_t)len;
            return FWD_OK;
        }
#endif
        return FWD_ERR_BAD_OPS;
    }
    if (len == 0 || len > ctx->out_end - ctx->out_pos)
        return FWD_ERR_BAD_OPS;
    ctx->op_kind = (uint8_t)(tag & 3u);
    ctx->op_left = len;
    switch (ctx->op_kind) {
    case FWD_OP_COPY: ctx->op_state = OS_DELTA; return FWD_OK;
    case FWD_OP_INSERT: ctx->op_state = OS_INSERT; return FWD_OK;
    case FWD_OP_FILL: ctx->op_state = OS_FILL; return FWD_OK;
    default: return FWD_ERR_INTERNAL; /* EXT was handled above */
    }
}

/* old_pos = cursor + zigzag-decoded delta, inside bank A's image with the
 * whole copy, computed without signed overflow. */
static int begin_copy(fwd_apply_state *ctx, uint32_t zz)
{
    uint32_t mag = (zz >> 1) + (zz & 1u); /* |delta|: 2^31 for zz = 2^32-1, no overflow */
    uint32_t pos;
    if (zz & 1u) {
        if (mag > ctx->old_cursor)
            return FWD_ERR_BAD_OPS;
        pos = ctx->old_cursor - mag;
    } else {
        if (mag > ctx->hdr.old_size - ctx->old_cursor)
            return FWD_ERR_BAD_OPS;
        pos = ctx->old_cursor + mag;
    }
    if (ctx->op_left > ctx->hdr.old_size - pos)
        return FWD_ERR_BAD_OPS;
    ctx->old_pos = pos;
    ctx->old_cursor = pos + ctx->op_left;
    ctx->op_state = OS_ZEROS;
#if FWD_APPLY_MODEL
    ctx->copy = (fwd_copy){ .old_pos = pos, .len = ctx->op_left, .out_pos = ctx->out_pos, .insn = pos };
    ctx->pred_len = 0;
#endif
    return FWD_OK;
}

/* A run ended: next run, or the copy is complete. */
static void after_run(fwd_apply_state *ctx)
{
    ctx->op_state = ctx->op_left == 0 ? OS_TAG : OS_ZEROS;
}

int fwd_ops_value(fwd_apply_state *ctx, uint32_t v)
{
    switch (ctx->op_state) {
    case OS_TAG: return begin_op(ctx, v);
    case OS_DELTA: return begin_copy(ctx, v);
    case OS_ZEROS:
        if (v > ctx->op_left)
            return FWD_ERR_BAD_OPS;
        ctx->run_left = v; /* zero run now, raw length next */
        ctx->op_left -= v;
        ctx->op_state = OS_RAW_LEN;
        return emit_old(ctx, v);
    case OS_RAW_LEN:
        if (v > ctx->op_left || (v == 0 && ctx->run_left == 0))
            return FWD_ERR_BAD_OPS; /* a run pair must make progress */
        ctx->run_left = v;
        ctx->op_left -= v;
        if (v == 0)
            after_run(ctx);
        else
            ctx->op_state = OS_RAW;
        return FWD_OK;
    default: return FWD_ERR_INTERNAL; /* the other states take bytes */
    }
}

int fwd_ops_feed(fwd_apply_state *ctx, const uint8_t *in, size_t n)
{
    size_t i = 0;
    int st = FWD_OK;
    while (i < n && st == FWD_OK) {
        switch (ctx->op_state) {
        case OS_TAG:
        case OS_DELTA:
        case OS_ZEROS:
        case OS_RAW_LEN: {
            int r = varint_step(ctx, in[i++]);
            if (r < 0)
                return r;
            if (r == 0)
                break;
            uint32_t v = ctx->varint;
            ctx->varint = 0;
            ctx->varint_bytes = 0;
            st = fwd_ops_value(ctx, v);
            break;
        }
        case OS_RAW: {
            uint32_t k = ctx->run_left;
            if (k > n - i)
                k = (uint32_t)(n - i);
            st = emit_raw(ctx, in + i, k);
            i += k;
            ctx->run_left -= k;
            if (ctx->run_left == 0)
                after_run(ctx);
            break;
        }
        case OS_INSERT: {
            uint32_t k = ctx->op_left;
            if (k > n - i)
                k = (uint32_t)(n - i);
            st = fwd_out_emit(ctx, in + i, k);
            i += k;
            ctx->op_left -= k;
            if (ctx->op_left == 0)
                ctx->op_state = OS_TAG;
            break;
        }
        case OS_FILL:
            st = emit_fill(ctx, in[i++], ctx->op_left);
            ctx->op_left = 0;
            ctx->op_state = OS_TAG;
            break;
        default:
            return FWD_ERR_INTERNAL;
        }
    }
    return st;
}

int fwd_ops_end(fwd_apply_state *ctx)
{
    if (ctx->op_state != OS_TAG || ctx->varint_bytes != 0 || ctx->out_pos != ctx->out_end)
        return FWD_ERR_BAD_OPS;
    return FWD_OK;
}
