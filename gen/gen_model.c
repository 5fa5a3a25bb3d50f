/* Learns the address-shift map of the prediction model (FORMAT.md,
 * "Prediction model") from the references inside regions a first matching
 * pass found: branch targets and pointer values at the same place in old and
 * new give (old address, shift) pairs, and runs of equal shift become map
 * entries. Fitting to reference pairs rather than to copy offsets matters: a
 * map read off the copy offsets also follows spurious matches in fill areas. */
#include <stdlib.h>
#include <string.h>

#include "gen_internal.h"

typedef struct ref_pair {
    uint32_t addr;
    int32_t shift;
} ref_pair;

typedef struct pairs {
    ref_pair *v;
    size_t n, cap;
} pairs;

static int add_pair(pairs *p, uint32_t addr, int64_t shift)
{
    if (shift < -(1 << 24) || shift > (1 << 24))
        return 0; /* not a plausible move: a changed value, not a moved one */
    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 4096;
        ref_pair *v = realloc(p->v, cap * sizeof(*v));
        if (!v)
            return -1;
        p->v = v;
        p->cap = cap;
    }
    p->v[p->n++] = (ref_pair){ addr, (int32_t)shift };
    return 0;
}

static uint32_t load32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static int prologue_at(const uint8_t *img, uint32_t len, uint32_t off)
{
    if (off & 1 || off + 2 > len)
        return 0;
    uint32_t hw = (uint32_t)img[off] | (uint32_t)img[off + 1] << 8;
    return (hw & 0xFF00) == 0xB500 || hw == 0xE92D; /* push {..., lr} / push.w */
}

/* Cortex-M images start with a vector table: initial SP, then handler
 * addresses with the Thumb bit, so the load address lies where every handler
 * falls inside the image. Among those 4 KiB-aligned candidates, the right one
 * makes the most code pointers (odd words) land on function prologues. */
uint32_t gen_model_load_address(const uint8_t *img, uint32_t len)
{
    if (len < 64)
        return 0;
    uint32_t sp = load32(img), reset = load32(img + 4);
    if (!(reset & 1) || (sp & 3) != 0)
        return 0; /* not a vector table */
    /* The reset handler lies in the image (other handlers may be in ROM). */
    uint32_t lo_v = reset, first = reset > len ? (reset - len + 0xFFF) & ~0xFFFu : 0;
    /* Bounded work on large images: at most 1024 candidates over 1 MiB of words. */
    uint32_t step = 0x1000, scan = len < (1u << 20) ? len : (1u << 20);
    while ((lo_v - first) / step > 1024)
        step *= 2;
    uint32_t best = first, best_hits = 0;
    for (uint64_t cand = first; cand <= lo_v; cand += step) {
        uint32_t hits = 0;
        for (uint32_t o = 0; o + 4 <= scan; o += 4) {
            uint32_t v = load32(img + o);
            if ((v & 1) && v - 1 - (uint32_t)cand < len)
                hits += prologue_at(img, len, v - 1 - (uint32_t)cand);
        }
        if (hits > best_hits) {
            best_hits = hits;
            best = (uint32_t)cand;
        }
    }
    return best;
}

static int plausible_pointer(uint32_t v, uint32_t load, uint32_t len)
{
    return (v - load < len + 65536u) || (v >= 0x20000000u && v < 0x40000000u);
}

static int by_addr(const void *a, const void *b)
{
    const ref_pair *x = a, *y = b;
    return x->addr < y->addr ? -1 : x->addr > y->addr ? 1 : (x->shift > y->shift) - (x->shift < y->shift);
}

static int collect(const uint8_t *old_img, uint32_t old_len, const uint8_t *new_img, uint32_t new_len,
                   const gen_ops *ops, uint32_t load, pairs *out)
{
    for (size_t i = 0; i < ops->n; i++) {
        const gen_op *op = &ops->v[i];
        if (op->kind != FWD_OP_COPY || op->len < 4)
            continue;
        int64_t d = (int64_t)op->new_off - op->old_off;
        for (uint32_t o = op->old_off; o + 4 <= op->old_off + op->len; o++) {
            int32_t a, b;
            uint32_t n = (uint32_t)(o + d);
            if ((o & 1) == 0 && fwd_thumb_branch(old_img + o, &a)) {
                if ((n & 1) == 0 && n + 4 <= new_len && fwd_thumb_branch(new_img + n, &b)) {
                    uint32_t t_old = load + o + 4 + (uint32_t)a, t_new = load + n + 4 + (uint32_t)b;
                    if (add_pair(out, t_old, (int64_t)t_new - t_old) < 0)
                        return -1;
                }
                o += 3;
                continue;
            }
            if ((o & 3) == 0 && n + 4 <= new_len) {
                uint32_t v = load32(old_img + o), w = load32(new_img + n);
                if (plausible_pointer(v, load, old_len) && add_pair(out, v, (int64_t)w - v) < 0)
                    return -1;
            }
        }
    }
    return 0;
}

/* Runs of at least min_run pairs sharing a shift start a map entry; lone
 * disagreeing pairs are left to the residual. */
static uint32_t segment(const pairs *p, uint32_t min_run, fwd_model *m)
{
    int32_t cur = 0;
    uint32_t n = 0;
    for (size_t i = 0; i < p->n;) {
        size_t j = i;
        while (j < p->n && p->v[j].shift == p->v[i].shift)
            j++;
        if (p->v[i].shift != cur && j - i >= min_run) {
            if (n == FWD_MODEL_MAX_ENTRIES)
                return n + 1;
            if (n > 0 && m->start[n - 1] == p->v[i].addr)
                n--; /* several shifts at one address: the longest run wins */
            m->start[n] = p->v[i].addr;
            m->shift[n] = p->v[i].shift;
            cur = p->v[i].shift;
            n++;
        }
        i = j;
    }
    return n;
}

int gen_model_fit(const uint8_t *old_img, uint32_t old_len, const uint8_t *new_img, uint32_t new_len,
                  const gen_ops *ops, uint32_t load, fwd_model *m)
{
    pairs p = { 0 };
    memset(m, 0, sizeof(*m));
    if (collect(old_img, old_len, new_img, new_len, ops, load, &p) != 0) {
        free(p.v);
        return FWD_ERR_INTERNAL;
    }
    if (p.n > 1) /* p.v is NULL when nothing was collected: qsort's arguments must be valid */
        qsort(p.v, p.n, sizeof(*p.v), by_addr);
    uint32_t n = FWD_MODEL_MAX_ENTRIES + 1;
    for (uint32_t min_run = 2; n > FWD_MODEL_MAX_ENTRIES; min_run *= 2)
        n = segment(&p, min_run, m);
    m->n = n;
    m->flags = FWD_PREDICT_BRANCHES | FWD_PREDICT_POINTERS;
    free(p.v);
    return FWD_OK;
}

int gen_model_encode(const fwd_model *m, gen_buf *out)
{
    uint8_t head[2] = { 1, m->flags };
    int rc = gen_buf_put(out, head, 2);
    rc |= gen_buf_varint(out, m->n);
    uint32_t prev = 0;
    for (uint32_t i = 0; i < m->n; i++) {
        rc |= gen_buf_varint(out, m->start[i] - prev);
        rc |= gen_buf_varint(out, m->shift[i] >= 0 ? (uint32_t)m->shift[i] * 2 : (uint32_t)(-(int64_t)m->shift[i] * 2 - 1));
        prev = m->start[i];
    }
    return rc == FWD_OK ? FWD_OK : FWD_ERR_INTERNAL;
}

/* A copy of img for matching only: each branch holds its absolute target
 * (projected through m for the old image) instead of its relative offset, and
 * each pointer of the old image is projected through m. Code that only moved
 * then reads the same in both images, so the suffix array finds it whole. */
uint8_t *gen_model_normalize(const uint8_t *img, uint32_t len, uint32_t load, const fwd_model *m)
{
    uint8_t *out = malloc(len ? len : 1);
    if (!out)
        return NULL;
    memcpy(out, img, len);
    for (uint32_t o = 0; o + 4 <= len; o++) {
        int32_t off;
        if ((o & 1) == 0 && fwd_thumb_branch(img + o, &off)) {
            uint32_t t = load + o + 4 + (uint32_t)off;
            if (m)
                t += (uint32_t)fwd_model_shift(m, t);
            uint32_t a = t >> 1;
            out[o] = (uint8_t)(a >> 11);
            out[o + 1] = (uint8_t)(0xF0 | ((a >> 19) & 0x7));
            out[o + 2] = (uint8_t)a;
            out[o + 3] = (uint8_t)((img[o + 3] & 0xF8) | ((a >> 8) & 0x7));
            o += 3;
            continue;
        }
        if (m && (o & 3) == 0) {
            uint32_t v = load32(img + o);
            int32_t s = fwd_model_shift(m, v);
            if (s != 0) {
                v += (uint32_t)s;
                out[o] = (uint8_t)v, out[o + 1] = (uint8_t)(v >> 8), out[o + 2] = (uint8_t)(v >> 16),
                out[o + 3] = (uint8_t)(v >> 24);
            }
        }
    }
    return out;
}
