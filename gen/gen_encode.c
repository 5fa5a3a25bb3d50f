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

void *gen_grow(void *v, size_t *cap, size_t n, size_t size, size_t first)
{
    if (n < *cap)
        return v;
    size_t c = *cap ? *cap * 2 : first;
    void *p = c <= SIZE_MAX / size ? realloc(v, c * size) : NULL;
    if (p)
        *cap = c;
    return p;
}

/* Gives back a buffer's unused capacity: the segments' payloads are kept
 * until the patch is assembled, each in the buffer its trial coded (up to
 * the operations' size; P16: 2.6 MB for 300 KB of payload). */
void gen_buf_trim(gen_buf *b)
{
    uint8_t *p = b->cap > b->n ? realloc(b->p, b->n ? b->n : 1) : NULL;
    if (p) {
        b->p = p;
        b->cap = b->n ? b->n : 1;
    }
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

/* The residual is taken against the bytes the applier will predict: the old
 * bytes themselves, or with a model the old bytes with moved branches and
 * pointers translated as `enable` allows (predicted: that prediction, made
 * already, or NULL). */
static int encode_copy(const uint8_t *old_img, uint32_t old_len, const uint8_t *new_img, const gen_model_use *mu,
                       unsigned enable, const uint8_t *predicted, uint32_t new_off, uint32_t old_off, uint32_t len,
                       uint32_t *cursor, gen_buf *out, fwd_gen_stats *st)
{
    int rc = gen_buf_varint(out, len << 2 | FWD_OP_COPY);
    rc |= gen_buf_varint(out, zigzag((int64_t)old_off - *cursor));
    uint8_t *pred = NULL;
    const uint8_t *o = old_img + old_off, *n = new_img + new_off;
    if (predicted && enable)
        o = predicted;
    else if (mu && mu->model && enable) {
        pred = malloc(len);
        if (!pred)
            return FWD_ERR_INTERNAL;
        fwd_copy c = { .old_pos = old_off, .len = len, .out_pos = new_off, .insn = old_off };
        fwd_model_predict(mu->model, mu->load_address, enable, &c, old_img, 0, old_len, old_off, old_off + len,
                          pred);
        o = pred;
    }
    uint32_t i = 0;
    while (i < len && rc == FWD_OK) {
        uint32_t z = gen_common_prefix(o + i, n + i, len - i);
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
    free(pred);
    *cursor = old_off + len;
    st->copy_bytes += len;
    return rc == FWD_OK ? FWD_OK : FWD_ERR_INTERNAL;
}

#define SWITCH_COST 6u /* an EXT operation plus the split copy's tag and delta, in residual bytes */

/* Picks the prediction mode for each GEN_MODE_SPAN of a copy by dynamic
 * programming over (mispredicted bytes + switches), starting from `mode`:
 * one mode per span into modes (spans of them), or -1. */
static int pick_modes(const uint32_t *cost, uint32_t spans, unsigned mode, uint8_t *modes)
{
    uint8_t *from = malloc((size_t)spans * GEN_MODES);
    if (!from)
        return -1;
    /* best[m]: cheapest cost of spans so far ending in mode m */
    uint64_t best[GEN_MODES], next[GEN_MODES];
    for (unsigned m = 0; m < GEN_MODES; m++)
        best[m] = (m == mode ? 0 : SWITCH_COST) + cost[m];
    for (uint32_t s = 1; s < spans; s++) {
        for (unsigned m = 0; m < GEN_MODES; m++) {
            unsigned arg = m;
            uint64_t b = best[m];
            for (unsigned k = 0; k < GEN_MODES; k++)
                if (best[k] + SWITCH_COST < b)
                    b = best[k] + SWITCH_COST, arg = k;
            next[m] = b + cost[s * GEN_MODES + m];
            from[s * GEN_MODES + m] = (uint8_t)arg;
        }
        memcpy(best, next, sizeof(best));
    }
    unsigned m = 0;
    for (unsigned k = 1; k < GEN_MODES; k++)
        if (best[k] < best[m])
            m = k;
    for (uint32_t s = spans; s-- > 0;) {
        modes[s] = (uint8_t)m;
        if (s > 0)
            m = from[s * GEN_MODES + m];
    }
    free(from);
    return 0;
}

/* A copy with a model: runs of spans sharing a mode become one copy each,
 * preceded by an EXT operation where the mode changes. */
static int encode_modeled_copy(const uint8_t *old_img, uint32_t old_len, const uint8_t *new_img,
                               const gen_model_use *mu, const gen_prediction *made, unsigned *mode, uint32_t new_off,
                               uint32_t old_off, uint32_t len, uint32_t *cursor, gen_buf *out, fwd_gen_stats *st)
{
    gen_prediction own = { 0 };
    if (!made && gen_predict_copy(old_img, old_len, new_img, mu, new_off, old_off, len, &own) != FWD_OK)
        return FWD_ERR_INTERNAL;
    const gen_prediction *p = made ? made : &own;
    uint32_t spans = (len + GEN_MODE_SPAN - 1) / GEN_MODE_SPAN;
    uint8_t *modes = malloc(spans);
    int rc = modes && pick_modes(p->cost, spans, *mode, modes) == 0 ? FWD_OK : FWD_ERR_INTERNAL;
    /* A copy in one mode is the copy gen_predict_copy predicted: its
     * prediction is used, not made again (a third of the model candidate's
     * time). A copy split by modes starts each part afresh, as the applier
     * does. */
    for (uint32_t s = 0; s < spans && rc == FWD_OK;) {
        uint32_t e = s + 1;
        while (e < spans && modes[e] == modes[s])
            e++;
        if (modes[s] != *mode) {
            rc = gen_buf_varint(out, (uint32_t)modes[s] << 2 | FWD_OP_EXT);
            *mode = modes[s];
        }
        uint32_t a = s * GEN_MODE_SPAN, b = e * GEN_MODE_SPAN < len ? e * GEN_MODE_SPAN : len;
        const uint8_t *whole = p->pred && s == 0 && e == spans ? p->pred + (size_t)*mode * len : NULL;
        if (rc == FWD_OK)
            rc = encode_copy(old_img, old_len, new_img, mu, *mode, whole, new_off + a, old_off + a, b - a, cursor, out,
                             st);
        s = e;
    }
    free(modes);
    gen_prediction_free(&own);
    return rc;
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

static int mode_used(const gen_model_use *mu) { return mu && mu->model; }

/* Marks at least this many output bytes apart: resuming before the last
 * one re-encodes little, and a segment of 256 blocks keeps at most 1,024. */
#define MARK_SPACING 1024u

static int add_mark(gen_range *r, const gen_range_mark *m)
{
    if (r->n && m->new_off < r->marks[r->n - 1].new_off + MARK_SPACING)
        return FWD_OK;
    gen_range_mark *v = gen_grow(r->marks, &r->cap, r->n, sizeof(*v), 64);
    if (!v)
        return FWD_ERR_INTERNAL;
    r->marks = v;
    r->marks[r->n++] = *m;
    return FWD_OK;
}

/* The state to start [start, end) from: the last mark before end of the
 * same segment's earlier trial, else the segment's start (a first mark). */
static int resume(gen_range *r, const gen_ops *ops, const gen_model_use *mu, size_t op_index, uint32_t start,
                  uint32_t end, gen_range_mark *at)
{
    const fwd_model *model = mu ? mu->model : NULL;
    if (r->n && r->ops == ops && r->model == model && r->start == start) {
        while (r->n > 1 && r->marks[r->n - 1].new_off > end)
            r->n--;
        *at = r->marks[r->n - 1];
        return FWD_OK;
    }
    size_t i = op_index;
    while (i > 0 && ops->v[i].new_off > start)
        i--;
    *at = (gen_range_mark){ .op = i, .new_off = start, .mode = model ? model->flags : 0 };
    r->ops = ops, r->model = model, r->start = start, r->n = 0;
    return add_mark(r, at);
}

int gen_encode_range(const uint8_t *old_img, uint32_t old_len, const uint8_t *new_img, const gen_ops *ops,
                     const gen_model_use *mu, size_t *op_index, uint32_t start, uint32_t end, gen_range *r,
                     fwd_gen_stats *stats)
{
    gen_range_mark at; /* segments are independent: the old cursor and the mode restart */
    if (resume(r, ops, mu, *op_index, start, end, &at) != FWD_OK)
        return FWD_ERR_INTERNAL;
    if (at.raw < r->stable)
        r->stable = at.raw;
    uint32_t cursor = at.cursor;
    unsigned mode = at.mode;
    size_t i = at.op;
    gen_buf *out = &r->raw;
    out->n = at.raw;
    *stats = at.stats;
    for (; i < ops->n && ops->v[i].new_off < end; i++) {
        const gen_op *op = &ops->v[i];
        if (op->new_off > start) {
            gen_range_mark m = { i, op->new_off, cursor, mode, out->n, *stats };
            if (add_mark(r, &m) != FWD_OK)
                return FWD_ERR_INTERNAL;
        }
        uint32_t a = op->new_off > start ? op->new_off : start;
        uint32_t b = op->new_off + op->len < end ? op->new_off + op->len : end;
        while (a < b) {
            uint32_t n = b - a < MAX_OP_LEN ? b - a : MAX_OP_LEN;
            uint32_t old_a = op->old_off + (a - op->new_off);
            /* A whole copy's prediction may have been made ahead; a part's is its own. */
            const gen_prediction *made = op->kind == FWD_OP_COPY && mode_used(mu) && a == op->new_off &&
                                                 n == op->len ? gen_predictor_get(mu->ahead, i) : NULL;
            int rc = op->kind != FWD_OP_COPY ? encode_insert(new_img + a, n, out, stats)
                     : mode_used(mu) ? encode_modeled_copy(old_img, old_len, new_img, mu, made, &mode, a, old_a, n,
                                                           &cursor, out, stats)
                                     : encode_copy(old_img, old_len, new_img, NULL, 0, NULL, a, old_a, n, &cursor, out, stats);
            if (rc != FWD_OK)
                return rc;
            a += n;
        }
    }
    *op_index = i > 0 ? i - 1 : 0;
    return FWD_OK;
}

void gen_range_free(gen_range *r)
{
    free(r->raw.p);
    free(r->marks);
    *r = (gen_range){ 0 };
}
