/* Codec 2 (FORMAT.md, "Range coder"): an adaptive binary range coder and its
 * model of the operation stream, the one definition the generator encodes
 * with and the applier decodes with.
 *
 * Every coding function takes the value to code and returns the value coded:
 * the encoder passes the real value, the decoder passes 0 and receives the
 * decoded one. Both therefore walk the same contexts in the same order, and
 * the context updates live here, not in either driver. */
#ifndef FWD_RC_H
#define FWD_RC_H

#include <stdint.h>

#define FWD_RC_PROB_BITS  12u
#define FWD_RC_MATCH_MIN  4u  /* shortest output match; shorter runs are literals */

/* P(bit = 0) in the low 12 bits, the number of updates so far (saturating at
 * the fast-start length) in the top 4. */
typedef uint16_t fwd_prob;

typedef struct fwd_rc {
    const uint8_t *in; /* decoder input */
    uint8_t *out;      /* encoder output */
    uint32_t pos, cap; /* bytes read or written; size of the buffer */
    uint32_t range;
    uint32_t code;     /* decoder: coded value minus low */
    uint64_t low;      /* encoder: 32 bits and the carry */
    uint32_t pending;  /* encoder: bytes held back for a carry (cache and 0xFFs) */
    uint8_t cache;
    uint8_t lead;      /* encoder: the leading byte, always 0, is not written */
    uint8_t encoding;
    uint8_t error;     /* decoder read past its input, or encoder output full */
} fwd_rc;

/* An integer: the count of significant bits (5-bit tree), the bit below the
 * leading one modelled per count, the rest direct. */
typedef struct fwd_rc_ints {
    fwd_prob bits[32];
    fwd_prob mant[32];
} fwd_rc_ints;

typedef struct fwd_rc_model {
    fwd_prob kind[4][4];        /* 2-bit tree; context: previous kind */
    fwd_rc_ints len[2];         /* COPY lengths; all other lengths */
    fwd_rc_ints delta[2];       /* context: previous delta was zero */
    fwd_prob rest[2];           /* "rest of the copy unchanged"; context: first run */
    fwd_rc_ints zeros[2];       /* context: first run */
    fwd_rc_ints raw[2];         /* context: zeros < 4 */
    fwd_prob literal[256];      /* inserted bytes, fill values, the model segment */
    fwd_prob match[2];          /* context: previous match flag */
    fwd_rc_ints match_len, match_dist;
    /* Residual bytes; context: index in the raw run, 0 .. last_context. The
     * sets are the owner's (as many as the header's rc_contexts), so that
     * this layout is the same whatever an applier is built to hold. */
    fwd_prob (*residual)[256];
    uint8_t prev_kind, prev_delta_zero, first_run, run_index, prev_match;
    uint8_t last_context;       /* the header's rc_contexts - 1 */
} fwd_rc_model;

void fwd_rc_encode_init(fwd_rc *rc, uint8_t *out, uint32_t cap);
/* Writes the final bytes; returns the stream length, 0 when cap was too small. */
uint32_t fwd_rc_encode_finish(fwd_rc *rc);
void fwd_rc_decode_init(fwd_rc *rc, const uint8_t *in, uint32_t len);
/* The decoder consumed exactly its input and ended where the encoder did. */
int fwd_rc_decode_done(const fwd_rc *rc);

/* A fresh model whose residual sets are residual[0 .. contexts): contexts is
 * the header's rc_contexts, 1..FWD_RC_MAX_CONTEXTS. */
void fwd_rc_model_reset(fwd_rc_model *m, fwd_prob (*residual)[256], unsigned contexts);
unsigned fwd_rc_kind(fwd_rc *rc, fwd_rc_model *m, unsigned kind);
uint32_t fwd_rc_len(fwd_rc *rc, fwd_rc_model *m, unsigned kind, uint32_t len);
uint32_t fwd_rc_delta(fwd_rc *rc, fwd_rc_model *m, uint32_t zigzag);
unsigned fwd_rc_rest(fwd_rc *rc, fwd_rc_model *m, unsigned unchanged);
uint32_t fwd_rc_zeros(fwd_rc *rc, fwd_rc_model *m, uint32_t zeros);
uint32_t fwd_rc_raw(fwd_rc *rc, fwd_rc_model *m, uint32_t zeros, uint32_t raw);
uint8_t fwd_rc_residual(fwd_rc *rc, fwd_rc_model *m, uint8_t b);
uint8_t fwd_rc_literal(fwd_rc *rc, fwd_rc_model *m, uint8_t b);
unsigned fwd_rc_match(fwd_rc *rc, fwd_rc_model *m, unsigned is_match);
uint32_t fwd_rc_match_len(fwd_rc *rc, fwd_rc_model *m, uint32_t len);
uint32_t fwd_rc_match_dist(fwd_rc *rc, fwd_rc_model *m, uint32_t dist);

/* The decoder's fast path through an insert's literals, the generator's
 * fwd_rc_match and fwd_rc_literal calls decoded in one: up to n literals into
 * b, each of the first `flagged` preceded by its match flag. Returns the
 * literals decoded; fewer than n when a flag said that a match follows. */
uint32_t fwd_rc_decode_literals(fwd_rc *rc, fwd_rc_model *m, uint8_t *b, uint32_t n, uint32_t flagged);

#endif
