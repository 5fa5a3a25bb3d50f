#include "fwd_model.h"

#include <string.h>

#include "fwd_format.h"
#include "fwd_status.h"

static int read_varint(const uint8_t *p, size_t n, size_t *pos, uint32_t *v)
{
    uint32_t x = 0;
    for (unsigned i = 0; i < FWD_VARINT_MAX_BYTES; i++) {
        if (*pos >= n)
            return -1;
        uint8_t b = p[(*pos)++];
        if (i == FWD_VARINT_MAX_BYTES - 1 && b > 0x0F)
            return -1;
        x |= (uint32_t)(b & 0x7F) << (7 * i);
        if (!(b & 0x80)) {
            *v = x;
            return 0;
        }
    }
    return -1;
}

int fwd_model_decode(const uint8_t *p, size_t n, fwd_model *m)
{
    size_t pos = 2;
    uint32_t count, addr = 0;
    if (n < 2 || p[0] != 1 || p[1] > (FWD_PREDICT_BRANCHES | FWD_PREDICT_POINTERS) ||
        read_varint(p, n, &pos, &count) != 0 || count == 0 || count > m->cap)
        return FWD_ERR_CORRUPT;
    m->flags = p[1];
    m->n = count;
    for (uint32_t i = 0; i < count; i++) {
        uint32_t d, z;
        if (read_varint(p, n, &pos, &d) != 0 || read_varint(p, n, &pos, &z) != 0)
            return FWD_ERR_CORRUPT;
        if ((i > 0 && d == 0) || d > UINT32_MAX - addr)
            return FWD_ERR_CORRUPT; /* starts strictly increase */
        addr += d;
        m->start[i] = addr;
        m->shift[i] = (int32_t)((z >> 1) ^ (0u - (z & 1u)));
    }
    return pos == n ? FWD_OK : FWD_ERR_CORRUPT;
}

/* The last entry starting at or below addr, without a branch per step:
 * every aligned word of a copy is looked up, and the steps' outcomes are
 * as random as the words (the generator's predictions: 7 % of P12's time). */
int32_t fwd_model_shift(const fwd_model *m, uint32_t addr)
{
    if (m->n == 0 || addr < m->start[0])
        return 0;
    const uint32_t *base = m->start;
    for (uint32_t n = m->n; n > 1;) { /* base[0] <= addr: the entry is in base[0 .. n) */
        uint32_t half = n / 2;
        base = base[half] <= addr ? base + half : base;
        n -= half;
    }
    return m->shift[base - m->start];
}

int fwd_thumb_branch(const uint8_t *p, int32_t *offset)
{
    uint32_t hw1 = (uint32_t)p[0] | (uint32_t)p[1] << 8;
    uint32_t hw2 = (uint32_t)p[2] | (uint32_t)p[3] << 8;
    if ((hw1 & 0xF800) != 0xF000 || ((hw2 & 0xF800) != 0xF800 && (hw2 & 0xF800) != 0xB800))
        return 0;
    /* J1 = J2 = 1: I1 = I2 = S, so the offset is S:S:S:imm10:imm11:0. */
    uint32_t s = (hw1 >> 10) & 1;
    uint32_t v = (hw1 & 0x3FF) << 12 | (hw2 & 0x7FF) << 1;
    *offset = s ? (int32_t)(v | 0xFFC00000u) : (int32_t)v;
    return 1;
}

uint32_t fwd_xtensa_length(uint8_t b0) { return (b0 & 0x08) ? 2 : 3; }

int fwd_xtensa_call(const uint8_t *p, int32_t *words)
{
    if ((p[0] & 0x0F) != 5)
        return 0;
    uint32_t v = (uint32_t)p[0] >> 6 | (uint32_t)p[1] << 2 | (uint32_t)p[2] << 10;
    *words = (v & 0x20000) ? (int32_t)(v | 0xFFFC0000u) : (int32_t)v;
    return 1;
}

uint32_t fwd_xtensa_target(uint32_t pc, int32_t words) { return (pc & ~3u) + 4 + ((uint32_t)words << 2); }

void fwd_xtensa_encode(const uint8_t *p, uint32_t k, uint8_t out[3])
{
    out[0] = (uint8_t)((p[0] & 0x3F) | (k & 3) << 6);
    out[1] = (uint8_t)(k >> 2);
    out[2] = (uint8_t)(k >> 10);
}

/* Writes the n predicted bytes of the reference at old offset o into dst,
 * clipped to [from, to). */
static void place(uint8_t *dst, uint32_t from, uint32_t to, uint32_t o, const uint8_t *b, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        if (o + i >= from && o + i < to)
            dst[o + i - from] = b[i];
}

/* The pointer prediction of the word at old offset o: v becomes v + M(v). */
static void predict_pointer(const fwd_model *m, const uint8_t *w, uint32_t o, uint32_t from, uint32_t to,
                            uint8_t *dst)
{
    uint32_t v = fwd_load32(w + o);
    int32_t sh = fwd_model_shift(m, v);
    if (sh != 0) {
        uint8_t b[4];
        fwd_store32(b, v + (uint32_t)sh);
        place(dst, from, to, o, b, 4);
    }
}

/* Whether a branch lies wholly inside the copy at old offset o. */
static int branch_at(const uint8_t *w, const fwd_copy *c, uint32_t o, int32_t *off)
{
    return (o & 1) == 0 && o >= c->old_pos && o + 4 <= c->old_pos + c->len && fwd_thumb_branch(w + o, off);
}

/* Thumb-2: every decision depends only on the bytes around one offset, never
 * on where a scan started, so any window of a copy predicts the same bytes. */
static void predict_thumb(const fwd_model *m, uint32_t load_address, unsigned enable, const fwd_copy *c,
                          const uint8_t *w, uint32_t from, uint32_t to, uint8_t *dst)
{
    uint32_t end = c->old_pos + c->len;
    uint32_t lo = from >= c->old_pos + 3 ? from - 3 : c->old_pos;
    for (uint32_t o = lo; o < to && o + 4 <= end; o++) {
        int32_t off;
        uint8_t b[4];
        if (branch_at(w, c, o, &off)) {
            if (!(enable & FWD_PREDICT_BRANCHES))
                continue;
            uint32_t target = load_address + o + 4 + (uint32_t)off;
            uint32_t moved = target + (uint32_t)fwd_model_shift(m, target);
            uint32_t at = load_address + (o - c->old_pos + c->out_pos) + 4;
            uint32_t u = moved - at;
            int32_t n = (int32_t)u;
            if (n < -(1 << 22) || n >= (1 << 22) || (u & 1))
                continue; /* out of reach: the old bytes stand */
            uint32_t hw1 = ((uint32_t)w[o] | (uint32_t)w[o + 1] << 8) & 0xF800;
            uint32_t hw2 = ((uint32_t)w[o + 2] | (uint32_t)w[o + 3] << 8) & 0xF800;
            hw1 |= (u >> 31) << 10 | ((u >> 12) & 0x3FF);
            hw2 |= (u >> 1) & 0x7FF;
            fwd_store32(b, hw1 | hw2 << 16);
            place(dst, from, to, o, b, 4);
        } else if ((o & 3) == 0 && (enable & FWD_PREDICT_POINTERS)) {
            if ((o >= 2 && branch_at(w, c, o - 2, &off)) || branch_at(w, c, o + 2, &off))
                continue; /* overlaps a branch: not a pointer */
            predict_pointer(m, w, o, from, to, dst);
        }
    }
}

/* Xtensa: pointers as for Thumb-2 (any aligned word), then calls, found by
 * decoding instruction lengths in order from the copy's start; a call's bytes
 * win over a pointer's. c->insn is the instruction to resume at: the one that
 * crossed the end of the previous window, so windows agree with one pass. */
static void predict_xtensa(const fwd_model *m, uint32_t load_address, unsigned enable, fwd_copy *c,
                           const uint8_t *w, uint32_t from, uint32_t to, uint8_t *dst)
{
    uint32_t end = c->old_pos + c->len;
    if (enable & FWD_PREDICT_POINTERS) {
        uint32_t lo = from >= c->old_pos + 3 ? from - 3 : c->old_pos;
        for (uint32_t o = (lo + 3) & ~3u; o < to && o + 4 <= end; o += 4)
            predict_pointer(m, w, o, from, to, dst);
    }
    uint32_t o = c->insn;
    while (o < to && o + 3 <= end) {
        uint32_t len = fwd_xtensa_length(w[o]);
        int32_t words;
        if (len == 3 && (enable & FWD_PREDICT_BRANCHES) && fwd_xtensa_call(w + o, &words)) {
            uint32_t target = fwd_xtensa_target(load_address + o, words);
            uint32_t moved = target + (uint32_t)fwd_model_shift(m, target);
            uint32_t u = moved - fwd_xtensa_target(load_address + (o - c->old_pos + c->out_pos), 0);
            int32_t n = (int32_t)u;
            if (!(u & 3) && n >= -(1 << 19) && n < (1 << 19)) {
                uint8_t call[3];
                fwd_xtensa_encode(w + o, u >> 2, call);
                place(dst, from, to, o, call, 3);
            }
        }
        if (o + len > to)
            break; /* crosses into the next window: resume there */
        o += len;
    }
    c->insn = o;
}

void fwd_model_predict(const fwd_model *m, uint32_t load_address, unsigned enable, fwd_copy *c,
                       const uint8_t *win, uint32_t win_start, uint32_t win_len, uint32_t from, uint32_t to,
                       uint8_t *dst)
{
    (void)win_len;
    memcpy(dst, win + (from - win_start), to - from);
    if (!enable || m->n == 0)
        return;
    const uint8_t *w = win - win_start; /* w[o] is old[o] inside the window */
    if (m->arch == FWD_MODEL_XTENSA)
        predict_xtensa(m, load_address, enable, c, w, from, to, dst);
    else
        predict_thumb(m, load_address, enable, c, w, from, to, dst);
}
