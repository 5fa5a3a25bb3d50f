#include "fwd_rc.h"

#include <stddef.h>

#include "fwd_assert.h"
#include "fwd_format.h"

#define PROB_ONE (1u << FWD_RC_PROB_BITS)
#define PROB_MIN 31u
#define PROB_MAX (PROB_ONE - PROB_MIN)
#define TOP (1u << 24)
#define FINAL_SHIFT 4u /* adaptation rate once the fast start is over: 1/16 */
#define INT_TREE_BITS 5u
/* The per-bit path is inlined into the few places that code bits: at -Os a
 * call per bit costs a device about a fifth of its decoding time. */
#define RC_INLINE static inline __attribute__((always_inline))

/* Fast start: the n-th update moves by 1/(n + 1.5) (in 1/32768), so a fresh
 * context learns from its first few bits instead of crawling at 1/16. By a
 * cell's update count n: that rate in the low half (the last entry is the
 * final 1/16: (toward * 2048) >> 15 == toward >> 4), and the cell's count
 * bits after the update (n + 1, saturating) in the high half, so that an
 * update is one load, one multiply and no branch on n. */
#define FAST_UPDATES 14u
#define UPDATE(rate, next) ((uint32_t)(rate) | (uint32_t)(next) << (16 + FWD_RC_PROB_BITS))
static const uint32_t update[FAST_UPDATES + 1] = {
    UPDATE(21845, 1),  UPDATE(13107, 2), UPDATE(9362, 3),  UPDATE(7282, 4),  UPDATE(5958, 5),
    UPDATE(5041, 6),   UPDATE(4369, 7),  UPDATE(3855, 8),  UPDATE(3449, 9),  UPDATE(3121, 10),
    UPDATE(2849, 11),  UPDATE(2621, 12), UPDATE(2427, 13), UPDATE(2260, 14),
    UPDATE(32768u >> FINAL_SHIFT, FAST_UPDATES),
};
_Static_assert(FAST_UPDATES < 16, "the update count must fit the cell's top 4 bits");
_Static_assert(sizeof(fwd_rc_model) + FWD_RC_MAX_CONTEXTS * sizeof(fwd_prob[256]) <= FWD_RC_MODEL_BYTES(FWD_RC_MAX_CONTEXTS),
               "FWD_RC_MODEL_BYTES is below the model's size");

void fwd_rc_encode_init(fwd_rc *rc, uint8_t *out, uint32_t cap)
{
    *rc = (fwd_rc){ .out = out, .cap = cap, .range = 0xFFFFFFFFu, .pending = 1, .lead = 1, .encoding = 1 };
}

static void put(fwd_rc *rc, uint8_t b)
{
    if (rc->lead) { /* no carry ever reaches the first byte: it is 0 and implied */
        rc->lead = 0;
        return;
    }
    if (rc->pos == rc->cap) {
        rc->error = 1;
        return;
    }
    rc->out[rc->pos++] = b;
}

/* LZMA's carry handling: a byte is held back while it could still be
 * incremented by a carry out of low. */
static void shift_low(fwd_rc *rc)
{
    if ((uint32_t)rc->low < 0xFF000000u || (rc->low >> 32) != 0) {
        uint8_t carry = (uint8_t)(rc->low >> 32), b = rc->cache;
        do {
            put(rc, (uint8_t)(b + carry));
            b = 0xFF;
        } while (--rc->pending != 0);
        rc->cache = (uint8_t)(rc->low >> 24);
    }
    rc->pending++;
    rc->low = (rc->low & 0x00FFFFFFu) << 8;
}

uint32_t fwd_rc_encode_finish(fwd_rc *rc)
{
    for (int i = 0; i < 5; i++)
        shift_low(rc);
    return rc->error ? 0 : rc->pos;
}

/* Inline too: the decoding loops take a byte about every eighth bit. */
RC_INLINE uint8_t next_byte(fwd_rc *rc)
{
    if (rc->pos == rc->cap) {
        rc->error = 1;
        return 0;
    }
    return rc->in[rc->pos++];
}

void fwd_rc_decode_init(fwd_rc *rc, const uint8_t *in, uint32_t len)
{
    *rc = (fwd_rc){ .in = in, .cap = len, .range = 0xFFFFFFFFu };
    for (int i = 0; i < 4; i++)
        rc->code = rc->code << 8 | next_byte(rc);
}

int fwd_rc_decode_done(const fwd_rc *rc) { return !rc->error && rc->pos == rc->cap && rc->code == 0; }

/* Out of line: runs about once per byte of the stream, not per bit. */
static void shift_bytes(fwd_rc *rc)
{
    do {
        rc->range <<= 8;
        if (rc->encoding)
            shift_low(rc);
        else
            rc->code = rc->code << 8 | next_byte(rc);
    } while (rc->range < TOP);
}

RC_INLINE void normalize(fwd_rc *rc)
{
    if (rc->range < TOP)
        shift_bytes(rc);
}

/* normalize() for a decoding loop's copies of range and code. One byte is
 * always enough there: a coded bit leaves range at least
 * (TOP >> 12) * PROB_MIN > 2^16, a direct bit at least TOP / 2. */
RC_INLINE void refill(fwd_rc *rc, uint32_t *range, uint32_t *code)
{
    if (*range < TOP) {
        *range <<= 8;
        *code = *code << 8 | next_byte(rc);
    }
}

/* A cell's probability stays within [PROB_MIN, PROB_MAX] (reset to 1/2, only
 * ever updated here), so a step can cross only the end it moves toward. */
RC_INLINE uint32_t adapt(uint32_t p, uint32_t n, unsigned bit)
{
    uint32_t u = update[n];
    uint32_t toward = bit ? p : PROB_ONE - p; /* distance to the certain end */
    uint32_t step = (toward * (u & 0xFFFFu)) >> 15;
    if (bit)
        p = p - step < PROB_MIN ? PROB_MIN : p - step;
    else
        p = p + step > PROB_MAX ? PROB_MAX : p + step;
    return u >> 16 | p;
}

/* The decoder's half of a coded bit, on the caller's copies of range and code
 * (registers, in the decoding loops); normalizing is the caller's. */
RC_INLINE unsigned decode_bit(uint32_t *range, uint32_t *code, fwd_prob *cell)
{
    uint32_t p = *cell & (PROB_ONE - 1), n = *cell >> FWD_RC_PROB_BITS;
    uint32_t bound = (*range >> FWD_RC_PROB_BITS) * p;
    if (*code >= bound) {
        *code -= bound;
        *range -= bound;
        *cell = (fwd_prob)adapt(p, n, 1);
        return 1;
    }
    *range = bound;
    *cell = (fwd_prob)adapt(p, n, 0);
    return 0;
}

RC_INLINE unsigned code_bit(fwd_rc *rc, fwd_prob *cell, unsigned bit)
{
    if (rc->encoding) {
        uint32_t p = *cell & (PROB_ONE - 1), n = *cell >> FWD_RC_PROB_BITS;
        uint32_t bound = (rc->range >> FWD_RC_PROB_BITS) * p;
        if (bit)
            rc->low += bound;
        rc->range = bit ? rc->range - bound : bound;
        *cell = (fwd_prob)adapt(p, n, bit);
    } else {
        bit = decode_bit(&rc->range, &rc->code, cell);
    }
    normalize(rc);
    return bit;
}

/* Bits at probability 1/2, most significant first; the decoder's with range
 * and code in registers. */
static uint32_t direct(fwd_rc *rc, unsigned nbits, uint32_t v)
{
    uint32_t got = 0;
    if (!rc->encoding) {
        uint32_t range = rc->range, code = rc->code;
        while (nbits-- > 0) {
            range >>= 1;
            unsigned bit = code >= range;
            if (bit)
                code -= range;
            got = got << 1 | bit;
            refill(rc, &range, &code);
        }
        rc->range = range;
        rc->code = code;
        return got;
    }
    while (nbits-- > 0) {
        rc->range >>= 1;
        unsigned bit = (v >> nbits) & 1u;
        if (bit)
            rc->low += rc->range;
        got = got << 1 | bit;
        normalize(rc);
    }
    return got;
}

/* A tree's symbol, decoded on the caller's copies of range and code. */
RC_INLINE uint32_t walk_tree(fwd_rc *rc, uint32_t *range, uint32_t *code, fwd_prob *p, unsigned nbits)
{
    uint32_t m = 1, end = 1u << nbits;
    do {
        m = m << 1 | decode_bit(range, code, &p[m]);
        refill(rc, range, code);
    } while (m < end);
    return m - end;
}

/* tree() for the decoder, with range and code in registers: the trees (bytes
 * above all) are most of what a device decodes. */
static uint32_t decode_tree(fwd_rc *rc, fwd_prob *p, unsigned nbits)
{
    uint32_t range = rc->range, code = rc->code;
    uint32_t v = walk_tree(rc, &range, &code, p, nbits);
    rc->range = range;
    rc->code = code;
    return v;
}

/* nbits-bit symbol through a binary tree of probabilities (cells 1..2^n-1). */
static uint32_t tree(fwd_rc *rc, fwd_prob *p, unsigned nbits, uint32_t v)
{
    if (!rc->encoding)
        return decode_tree(rc, p, nbits);
    uint32_t m = 1;
    for (unsigned i = nbits; i-- > 0;)
        m = m << 1 | code_bit(rc, &p[m], (v >> i) & 1u);
    return m - (1u << nbits);
}

static uint32_t bit_length(uint32_t v)
{
    uint32_t n = 0;
    while (n < 32 && (v >> n) != 0)
        n++;
    return n;
}

/* Symbol 31 of the tree stands for 31 and 32 significant bits; a direct bit
 * tells them apart. The decoder's v means nothing (fwd_rc_match_dist's is
 * 0xFFFFFFFF): it skips measuring it. */
static uint32_t code_int(fwd_rc *rc, fwd_rc_ints *c, uint32_t v)
{
    uint32_t nb = rc->encoding ? bit_length(v) : 0;
    uint32_t sym = tree(rc, c->bits, INT_TREE_BITS, nb < 31 ? nb : 31);
    if (sym == 31)
        sym += direct(rc, 1, nb == 32);
    if (sym <= 1)
        return sym;
    uint32_t rest = sym - 1; /* bits below the leading one */
    uint32_t top = code_bit(rc, &c->mant[sym - 1], (v >> (rest - 1)) & 1u);
    uint32_t low = direct(rc, rest - 1, v);
    return 1u << rest | top << (rest - 1) | low;
}

static void reset_cells(fwd_prob *p, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        p[i] = PROB_ONE / 2;
}

void fwd_rc_model_reset(fwd_rc_model *m, fwd_prob (*residual)[256], unsigned contexts)
{
    FWD_ASSERT(contexts >= 1 && contexts <= FWD_RC_MAX_CONTEXTS);
    /* The model is cells up to the residual sets' pointer, then the sets,
     * then the small context fields. */
    reset_cells((fwd_prob *)(void *)m, offsetof(fwd_rc_model, residual) / sizeof(fwd_prob));
    reset_cells(residual[0], 256u * contexts);
    m->residual = residual;
    m->prev_kind = 0;
    m->prev_delta_zero = 0;
    m->first_run = 0;
    m->run_index = 0;
    m->prev_match = 0;
    m->last_context = (uint8_t)(contexts - 1);
}

unsigned fwd_rc_kind(fwd_rc *rc, fwd_rc_model *m, unsigned kind)
{
    kind = tree(rc, m->kind[m->prev_kind], 2, kind);
    m->prev_kind = (uint8_t)kind;
    return kind;
}

uint32_t fwd_rc_len(fwd_rc *rc, fwd_rc_model *m, unsigned kind, uint32_t len)
{
    return code_int(rc, &m->len[kind != FWD_OP_COPY], len);
}

uint32_t fwd_rc_delta(fwd_rc *rc, fwd_rc_model *m, uint32_t zigzag)
{
    zigzag = code_int(rc, &m->delta[m->prev_delta_zero], zigzag);
    m->prev_delta_zero = zigzag == 0;
    m->first_run = 1;
    return zigzag;
}

unsigned fwd_rc_rest(fwd_rc *rc, fwd_rc_model *m, unsigned unchanged)
{
    return code_bit(rc, &m->rest[m->first_run], unchanged);
}

uint32_t fwd_rc_zeros(fwd_rc *rc, fwd_rc_model *m, uint32_t zeros)
{
    return code_int(rc, &m->zeros[!m->first_run], zeros);
}

uint32_t fwd_rc_raw(fwd_rc *rc, fwd_rc_model *m, uint32_t zeros, uint32_t raw)
{
    raw = code_int(rc, &m->raw[zeros >= 4], raw);
    m->first_run = 0;
    m->run_index = 0;
    return raw;
}

uint8_t fwd_rc_residual(fwd_rc *rc, fwd_rc_model *m, uint8_t b)
{
    b = (uint8_t)tree(rc, m->residual[m->run_index], 8, b);
    if (m->run_index < m->last_context)
        m->run_index++;
    return b;
}

uint8_t fwd_rc_literal(fwd_rc *rc, fwd_rc_model *m, uint8_t b) { return (uint8_t)tree(rc, m->literal, 8, b); }

uint32_t fwd_rc_decode_literals(fwd_rc *rc, fwd_rc_model *m, uint8_t *b, uint32_t n, uint32_t flagged)
{
    uint32_t range = rc->range, code = rc->code, k;
    for (k = 0; k < n; k++) {
        if (k < flagged) {
            m->prev_match = (uint8_t)decode_bit(&range, &code, &m->match[m->prev_match]);
            refill(rc, &range, &code);
            if (m->prev_match)
                break;
        }
        b[k] = (uint8_t)walk_tree(rc, &range, &code, m->literal, 8);
    }
    rc->range = range;
    rc->code = code;
    return k;
}

unsigned fwd_rc_match(fwd_rc *rc, fwd_rc_model *m, unsigned is_match)
{
    is_match = code_bit(rc, &m->match[m->prev_match], is_match);
    m->prev_match = (uint8_t)is_match;
    return is_match;
}

uint32_t fwd_rc_match_len(fwd_rc *rc, fwd_rc_model *m, uint32_t len)
{
    return code_int(rc, &m->match_len, len - FWD_RC_MATCH_MIN) + FWD_RC_MATCH_MIN;
}

uint32_t fwd_rc_match_dist(fwd_rc *rc, fwd_rc_model *m, uint32_t dist)
{
    return code_int(rc, &m->match_dist, dist - 1) + 1;
}
