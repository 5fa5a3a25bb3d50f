/* Encodes operations into a segment's decoded payload (FORMAT.md,
 * "Operations"): copies with their residual as zero and raw runs, inserts,
 * and fills for long runs of one byte inside inserted data. */
#include <stdlib.h>
#include <string.h>

#include "gen_internal.h"

#define MAX_OP_LEN (1u << 29) /* keeps len << 2 inside a 32-bit varint */
#define FILL_MIN 16u          /* shorter runs cost less as literals */
#define RAW_BREAK 1u          /* zeros that end a raw run; 1..6 measured on the corpus, 1 smallest */

int gen_buf_reserve(gen_buf *b, size_t extra)
{
    if (b->cap - b->n >= extra)
        return FWD_OK;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap - b->n < extra)
        cap *= 2;
    uint8_t *p = realloc(b->p, cap);
    if (!p)
        return FWD_ERR_INTERNAL;
    b->p = p;
    b->cap = cap;
    return FWD_OK;
}

int gen_buf_put(gen_buf *b, const void *p, size_t n)
{
    if (gen_buf_reserve(b, n) != FWD_OK)
        return FWD_ERR_INTERNAL;
    if (n)
        memcpy(b->p + b->n, p, n);
    b->n += n;
    return FWD_OK;
}

int gen_buf_varint(gen_buf *b, uint32_t v)
{
    uint8_t tmp[FWD_VARINT_MAX_BYTES];
    size_t n = 0;
    do {
        tmp[n] = (uint8_t)(v & 0x7F);
        v >>= 7;
        if (v)
            tmp[n] |= 0x80;
        n++;
    } while (v);
    return gen_buf_put(b, tmp, n);
}

static uint32_t zigzag(int64_t d) { return d >= 0 ? (uint32_t)(d * 2) : (uint32_t)(-d * 2 - 1); }

static int encode_copy(const uint8_t *old_img, const uint8_t *new_img, uint32_t new_off, uint32_t old_off,
                       uint32_t len, uint32_t *cursor, gen_buf *out, fwd_gen_stats *st)
{
    int rc = gen_buf_varint(out, len << 2 | FWD_OP_COPY);
    rc |= gen_buf_varint(out, zigzag((int64_t)old_off - *cursor));
    const uint8_t *o = old_img + old_off, *n = new_img + new_off;
    uint32_t i = 0;
    while (i < len && rc == FWD_OK) {
        uint32_t z = 0;
        while (i + z < len && o[i + z] == n[i + z])
            z++;
        uint32_t r = 0, zeros = 0; /* raw run, with the zeros that trail it so far */
        while (i + z + r + zeros < len) {
            uint32_t k = i + z + r + zeros;
            if (o[k] == n[k]) {
                if (++zeros >= RAW_BREAK)
                    break;
            } else {
                r += zeros + 1;
                zeros = 0;
            }
        }
        rc |= gen_buf_varint(out, z);
        rc |= gen_buf_varint(out, r);
        rc |= gen_buf_reserve(out, r);
        for (uint32_t k = 0; k < r && rc == FWD_OK; k++) {
            uint8_t d = (uint8_t)(n[i + z + k] - o[i + z + k]);
            out->p[out->n++] = d;
            st->residual_nonzero += d != 0;
        }
        i += z + r;
    }
    *cursor = old_off + len;
    st->copy_bytes += len;
    return rc == FWD_OK ? FWD_OK : FWD_ERR_INTERNAL;
}

static int encode_insert(const uint8_t *p, uint32_t len, gen_buf *out, fwd_gen_stats *st)
{
    int rc = FWD_OK;
    uint32_t lit = 0; /* start of pending literals */
    for (uint32_t i = 0; i < len && rc == FWD_OK;) {
        uint32_t run = 1;
        while (i + run < len && p[i + run] == p[i])
            run++;
        if (run < FILL_MIN) {
            i += run;
            continue;
        }
        if (i > lit) {
            rc |= gen_buf_varint(out, (i - lit) << 2 | FWD_OP_INSERT);
            rc |= gen_buf_put(out, p + lit, i - lit);
            st->insert_bytes += i - lit;
        }
        rc |= gen_buf_varint(out, run << 2 | FWD_OP_FILL);
        rc |= gen_buf_put(out, p + i, 1);
        st->fill_bytes += run;
        i += run;
        lit = i;
    }
    if (len > lit && rc == FWD_OK) {
        rc |= gen_buf_varint(out, (len - lit) << 2 | FWD_OP_INSERT);
        rc |= gen_buf_put(out, p + lit, len - lit);
        st->insert_bytes += len - lit;
    }
    return rc == FWD_OK ? FWD_OK : FWD_ERR_INTERNAL;
}

int gen_encode_range(const uint8_t *old_img, const uint8_t *new_img, const gen_ops *ops, size_t *op_index,
                     uint32_t start, uint32_t end, gen_buf *out, fwd_gen_stats *stats)
{
    uint32_t cursor = 0; /* segments are independent: the old cursor restarts */
    size_t i = *op_index;
    while (i > 0 && ops->v[i].new_off > start)
        i--;
    for (; i < ops->n && ops->v[i].new_off < end; i++) {
        const gen_op *op = &ops->v[i];
        uint32_t a = op->new_off > start ? op->new_off : start;
        uint32_t b = op->new_off + op->len < end ? op->new_off + op->len : end;
        while (a < b) {
            uint32_t n = b - a < MAX_OP_LEN ? b - a : MAX_OP_LEN;
            int rc = op->kind == FWD_OP_COPY
                         ? encode_copy(old_img, new_img, a, op->old_off + (a - op->new_off), n, &cursor, out, stats)
                         : encode_insert(new_img + a, n, out, stats);
            if (rc != FWD_OK)
                return rc;
            a += n;
        }
    }
    *op_index = i > 0 ? i - 1 : 0;
    return FWD_OK;
}
