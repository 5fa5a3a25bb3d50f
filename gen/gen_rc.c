/* The range coder's encoder side (codec 2, FORMAT.md "Range coder"): walks a
 * segment's operation stream as gen_encode_range wrote it and codes each field
 * with the shared model (common/fwd_rc.c). Inserted bytes that repeat the new
 * image already rebuilt become output matches, found with hash chains over
 * the whole new image. */
#include <stdlib.h>
#include <string.h>

#include "fwd_rc.h"
#include "gen_internal.h"

#define CHAIN_STEPS 256 /* candidates tried per position */
/* Within an insert, after RC_SKIP_AFTER searches in a row found no match of
 * RC_SKIP_HIT bytes or more, only every (misses / RC_SKIP_AFTER + 1)-th
 * position is searched, at most every (RC_SKIP_MAX + 1)-th: the decoder sees
 * literals either way. On incompressible inserts each search was a walk of
 * cache misses, and the longer the image, the more often a chance 4-byte
 * match stopped a count of any match (unrelated 64 MiB images, same stored
 * patch: 35.0 -> 33.5 s counting any match, 26.8 s counting 5 bytes). No
 * corpus patch grew (P18 -12 bytes); counting 6 bytes, or after 256
 * misses, P02 grew by up to 9 bytes and P11 by up to 8. */
#define RC_SKIP_AFTER 512
#define RC_SKIP_HIT 5
#define RC_SKIP_MAX 16

/* Bits of the chains' head table, which lives only while the index is built:
 * about four positions per head, 16 bits at least (the chains of small
 * images keep their order) and 26 at most (256 MiB for the head of a 256 MiB
 * image, one byte per byte of it). With too few bits every chain is
 * CHAIN_STEPS hash collisions long, each a cache miss: 16 bits made
 * unrelated 16 MiB images take minutes, 22 unrelated 256 MiB ones over 15. */
static unsigned hash_bits(uint32_t len)
{
    unsigned bits = 16;
    while (bits < 26 && (1u << (bits + 2)) < len)
        bits++;
    return bits;
}

static uint32_t hash4(const uint8_t *p, unsigned bits)
{
    uint32_t v = fwd_load32(p);
    return (v * 2654435761u) >> (32 - bits);
}

int gen_rc_index_build(gen_rc_index *ix, const uint8_t *img, uint32_t len)
{
    ix->img = img;
    ix->len = len;
    unsigned bits = hash_bits(len);
    int32_t *head = gen_alloc_filled(sizeof(int32_t) << bits);
    ix->prev = gen_alloc_filled(sizeof(int32_t) * (len ? len : 1));
    if (!head || !ix->prev) {
        free(head);
        gen_rc_index_free(ix);
        return FWD_ERR_INTERNAL;
    }
    for (uint32_t i = 0; i < (1u << bits); i++)
        head[i] = -1;
    /* prev[q]: the nearest position below q with the same hash. */
    for (uint32_t q = 0; q + FWD_RC_MATCH_MIN <= len; q++) {
        uint32_t h = hash4(img + q, bits);
        ix->prev[q] = head[h];
        head[h] = (int32_t)q;
    }
    free(head);
    return FWD_OK;
}

void gen_rc_index_free(gen_rc_index *ix)
{
    free(ix->prev);
    ix->prev = NULL;
}

/* Longest match (up to max bytes) for position q from a position below q,
 * nearest candidates first: on a tie the smaller distance wins. */
static uint32_t chain_match(const gen_rc_index *ix, uint32_t q, uint32_t max, uint32_t *dist)
{
    const uint8_t *img = ix->img;
    uint32_t best = 0;
    int steps = 0;
    for (int32_t p = ix->prev[q]; p >= 0 && steps < CHAIN_STEPS; p = ix->prev[p], steps++) {
        /* Only a candidate that agrees at byte `best` can beat best. */
        if (best && img[p + best] != img[q + best])
            continue;
        uint32_t l = gen_common_prefix(img + p, img + q, max);
        if (l > best && l >= FWD_RC_MATCH_MIN) {
            best = l;
            *dist = q - (uint32_t)p;
            if (l == max)
                break;
        }
    }
    return best;
}

/* Segment trials code a segment's inserts again with each length tried, so
 * the matches found are kept, direct-mapped by position (at most MEMO_SIZE
 * positions of a segment apart never collide). A smaller image gets the
 * power of two that holds all its positions: the whole table was 64 fresh
 * pages zeroed for a 4 KiB image, a tenth of its run on the bench machine. */
#define MEMO_SIZE (1u << 14) /* 256 KiB a candidate; 2^15 cost P16 0.25 B per input byte for no measurable time */
typedef struct memo_entry {
    uint32_t q, max, len, dist; /* max 0: empty */
} memo_entry;

/* A coder and its model: 3,888 bytes. */
typedef struct rc_enc {
    fwd_rc rc;
    fwd_rc_model m;
    fwd_prob residual[FWD_RC_MAX_CONTEXTS][256];
} rc_enc;

/* The coder's whole state where an operation starts: a segment's next trial
 * codes the same operations up to where they differ, so it starts from the
 * last state before that instead of from the segment's start (P13: each
 * segment was coded 2.9 times). One every SNAP_SPACING bytes of new image. */
#define SNAP_SPACING 1024u
typedef struct rc_snap {
    size_t i;         /* operation bytes coded */
    uint32_t out_pos; /* new-image position reached */
    rc_enc e;
} rc_snap;

struct gen_rc_memo {
    rc_snap *snap; /* by i, all made on operation bytes the caller says are unchanged */
    size_t n, cap;
    uint8_t *out; /* the trials' coded bytes, which the states' positions index */
    size_t out_cap;
    uint32_t mask; /* entries - 1 */
    memo_entry e[];
};

gen_rc_memo *gen_rc_memo_new(uint32_t new_len)
{
    uint32_t n = 1;
    while (n < MEMO_SIZE && n < new_len)
        n <<= 1;
    gen_rc_memo *memo = calloc(1, sizeof(*memo) + n * sizeof(memo_entry));
    if (memo)
        memo->mask = n - 1;
    return memo;
}

void gen_rc_memo_free(gen_rc_memo *memo)
{
    if (memo) {
        free(memo->snap);
        free(memo->out);
    }
    free(memo);
}

/* chain_match through the memo (NULL: none). A result found with another
 * bound max' stands for max too when it was not cut by max' (len < max') and
 * max exceeds it: no candidate reached max', so none reaches max. */
static uint32_t find_match(const gen_rc_index *ix, gen_rc_memo *memo, uint32_t q, uint32_t max, uint32_t *dist)
{
    if (max < FWD_RC_MATCH_MIN || q + FWD_RC_MATCH_MIN > ix->len)
        return 0;
    if (!memo)
        return chain_match(ix, q, max, dist);
    memo_entry *e = &memo->e[q & memo->mask];
    if (e->max && e->q == q && (e->max == max || (e->len < e->max && e->len < max))) {
        *dist = e->dist;
        return e->len;
    }
    uint32_t d = 0, len = chain_match(ix, q, max, &d);
    e->q = q, e->max = max, e->len = len, e->dist = d;
    *dist = d;
    return len;
}

static uint32_t next_varint(const uint8_t *p, size_t *i)
{
    uint32_t v = 0;
    for (unsigned s = 0;; s += 7) {
        uint8_t c = p[(*i)++];
        v |= (uint32_t)(c & 0x7F) << s;
        if (!(c & 0x80))
            return v;
    }
}

static void encode_insert(fwd_rc *rc, fwd_rc_model *m, const gen_rc_index *ix, gen_rc_memo *memo, const uint8_t *lit,
                          uint32_t len, uint32_t out_pos)
{
    uint32_t misses = 0, skip = 0;
    for (uint32_t k = 0; k < len && !rc->error;) {
        if (len - k >= FWD_RC_MATCH_MIN) {
            uint32_t dist = 0, ml = 0;
            if (skip == 0) {
                ml = find_match(ix, memo, out_pos + k, len - k, &dist);
                misses = ml >= RC_SKIP_HIT ? 0 : misses + 1;
                skip = misses < RC_SKIP_AFTER ? 0 : misses / RC_SKIP_AFTER;
                skip = skip > RC_SKIP_MAX ? RC_SKIP_MAX : skip;
            } else {
                skip--;
            }
            if (fwd_rc_match(rc, m, ml != 0)) {
                fwd_rc_match_len(rc, m, ml);
                fwd_rc_match_dist(rc, m, dist);
                k += ml;
                continue;
            }
        }
        fwd_rc_literal(rc, m, lit[k++]);
    }
}

/* The copy's runs: each pair is zeros then raw residual bytes, or a flag
 * saying the rest of the copy is unchanged. */
static void encode_copy_runs(fwd_rc *rc, fwd_rc_model *m, const uint8_t *ops, size_t *i, uint32_t len)
{
    for (uint32_t left = len; left > 0;) {
        uint32_t zeros = next_varint(ops, i), raw = next_varint(ops, i);
        if (!fwd_rc_rest(rc, m, zeros == left && raw == 0)) {
            fwd_rc_zeros(rc, m, zeros);
            fwd_rc_raw(rc, m, zeros, raw);
        }
        for (uint32_t k = 0; k < raw; k++)
            fwd_rc_residual(rc, m, ops[(*i)++]);
        left -= zeros + raw;
    }
}

static void enc_init(rc_enc *e, uint8_t *out, size_t cap, unsigned contexts)
{
    fwd_rc_encode_init(&e->rc, out, (uint32_t)cap);
    fwd_rc_model_reset(&e->m, e->residual, contexts);
}

/* Keeps e's state (a state not kept costs time only). */
static void snap_push(gen_rc_memo *memo, const rc_enc *e, size_t i, uint32_t out_pos)
{
    rc_snap *v = gen_grow(memo->snap, &memo->cap, memo->n, sizeof(*v), 16);
    if (!v)
        return;
    memo->snap = v;
    v[memo->n] = (rc_snap){ .i = i, .out_pos = out_pos };
    memcpy(&v[memo->n].e, e, sizeof(*e));
    memo->n++;
}

/* Starts e where the last state kept on ops[0..kept) left off, if that
 * state had written at most cap bytes (a coder stopped at cap would have
 * written the same ones), else afresh; the states after it are dropped.
 * e codes into memo->out, which holds cap bytes. */
static void resume_coder(gen_rc_memo *memo, rc_enc *e, unsigned contexts, size_t kept, size_t cap, size_t *i,
                         uint32_t *out_pos)
{
    while (memo->n && (memo->snap[memo->n - 1].i > kept || memo->snap[memo->n - 1].e.rc.pos > cap))
        memo->n--;
    if (memo->n == 0) {
        enc_init(e, memo->out, cap, contexts);
        return;
    }
    const rc_snap *s = &memo->snap[memo->n - 1];
    memcpy(e, &s->e, sizeof(*e));
    e->m.residual = e->residual;
    e->rc.out = memo->out;
    e->rc.cap = (uint32_t)cap;
    *i = s->i;
    *out_pos = s->out_pos;
}

/* Codes ops[i..n) (the segment's new-image position out_pos); returns the
 * operation bytes coded. With a memo, keeps states for the next trial. */
static size_t code_ops(rc_enc *e, const gen_rc_index *ix, gen_rc_memo *memo, const uint8_t *ops, size_t i, size_t n,
                       uint32_t out_pos)
{
    fwd_rc *rc = &e->rc;
    fwd_rc_model *m = &e->m;
    uint32_t next_snap = out_pos + SNAP_SPACING;
    while (i < n && !rc->error) {
        if (memo && out_pos >= next_snap) {
            snap_push(memo, e, i, out_pos);
            next_snap = out_pos + SNAP_SPACING;
        }
        uint32_t tag = next_varint(ops, &i);
        unsigned kind = fwd_rc_kind(rc, m, tag & 3u);
        uint32_t len = fwd_rc_len(rc, m, kind, tag >> 2);
        if (kind == FWD_OP_COPY) {
            fwd_rc_delta(rc, m, next_varint(ops, &i));
            encode_copy_runs(rc, m, ops, &i, len);
        } else if (kind == FWD_OP_INSERT) {
            encode_insert(rc, m, ix, memo, ops + i, len, out_pos);
            i += len;
        } else if (kind == FWD_OP_FILL) {
            fwd_rc_literal(rc, m, ops[i++]);
        }
        out_pos += kind == FWD_OP_EXT ? 0 : len;
    }
    return i;
}

size_t gen_rc_encode(const gen_rc_index *ix, gen_rc_memo *memo, unsigned contexts, uint32_t out_pos, const uint8_t *ops,
                     size_t n, size_t kept, uint8_t *out, size_t cap, size_t *used)
{
    rc_enc *e = malloc(sizeof(*e));
    if (!e)
        return 0;
    size_t i = 0;
    if (memo && memo->out_cap < cap) {
        uint8_t *p = realloc(memo->out, cap);
        if (p) {
            memo->out = p;
            memo->out_cap = cap;
        }
    }
    if (memo && memo->out_cap >= cap)
        resume_coder(memo, e, contexts, kept, cap, &i, &out_pos);
    else {
        enc_init(e, out, cap, contexts);
        memo = NULL;
    }
    i = code_ops(e, ix, memo, ops, i, n, out_pos);
    if (used)
        *used = i;
    size_t len = fwd_rc_encode_finish(&e->rc);
    if (memo && len)
        memcpy(out, memo->out, len);
    free(e);
    return len;
}

size_t gen_rc_encode_bytes(const uint8_t *p, size_t n, uint8_t *out, size_t cap)
{
    rc_enc *e = malloc(sizeof(*e));
    if (!e)
        return 0;
    enc_init(e, out, cap, 1); /* literals only: any context count codes them alike */
    for (size_t i = 0; i < n && !e->rc.error; i++)
        fwd_rc_literal(&e->rc, &e->m, p[i]);
    size_t len = fwd_rc_encode_finish(&e->rc);
    free(e);
    return len;
}
