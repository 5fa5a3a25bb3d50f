/* Private interfaces between the generator's files. */
#ifndef FWD_GEN_INTERNAL_H
#define FWD_GEN_INTERNAL_H

#include <pthread.h>
#include <string.h>

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>

#include "fwd_crypto.h"
#include "fwd_gen.h"
#include "fwd_model.h"

typedef struct gen_op {
    uint8_t kind;      /* FWD_OP_COPY or FWD_OP_INSERT (fills are found while encoding) */
    uint32_t new_off;
    uint32_t len;
    uint32_t old_off;  /* COPY only */
} gen_op;

typedef struct gen_ops {
    gen_op *v;
    size_t n, cap;
} gen_ops;

typedef struct gen_buf {
    uint8_t *p;
    size_t n, cap;
} gen_buf;

/* Length of the common prefix of a and b, at most n. Words first: long
 * matches are the common case and were the matchers' main cost. */
static inline uint32_t gen_common_prefix(const uint8_t *a, const uint8_t *b, uint32_t n)
{
    uint32_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t x, y;
        memcpy(&x, a + i, 8);
        memcpy(&y, b + i, 8);
        if (x != y)
            break;
    }
    while (i < n && a[i] == b[i])
        i++;
    return i;
}

/* Room for element n of an array that doubles (from `first` elements): the
 * array, moved or not, or NULL (and *cap unchanged) when memory runs out. */
void *gen_grow(void *v, size_t *cap, size_t n, size_t size, size_t first);
/* gen_mem.c: malloc for an array the caller writes in full, backed by huge
 * pages where the kernel offers them. */
void *gen_alloc_filled(size_t n);
int gen_buf_reserve(gen_buf *b, size_t extra);
int gen_buf_put(gen_buf *b, const void *p, size_t n);
void gen_buf_trim(gen_buf *b);
int gen_buf_varint(gen_buf *b, uint32_t v);

/* gen_thread.c: starts fn(arg) on a new thread, on another CPU than the
 * caller's where there is one; 1 if it started, 0 if it did not. */
int gen_thread_start(pthread_t *th, void *(*fn)(void *), void *arg);

/* gen_patch.c: opt->progress, serialised (the generator runs two threads). */
void gen_progress(const fwd_gen_options *opt, const char *stage, uint64_t done, uint64_t total);

/* gen_match.c: copy/insert operations covering the whole new image. */
int gen_match(const uint8_t *old_img, uint32_t old_len, const uint8_t *new_img, uint32_t new_len,
              gen_ops *ops, const fwd_gen_options *opt);

typedef struct gen_predictor gen_predictor;

/* The prediction model a patch uses (model NULL for a plain patch), and
 * its copies' predictions made ahead (gen_predictor_start), or NULL. */
typedef struct gen_model_use {
    const fwd_model *model;
    uint32_t load_address;
    gen_predictor *ahead;
} gen_model_use;

/* gen_predict.c: a copy's prediction in each of the GEN_MODES modes
 * (FWD_PREDICT_* combinations) and what each mispredicts per GEN_MODE_SPAN
 * of output. */
#define GEN_MODES 4u
#define GEN_MODE_SPAN 1024u               /* output bytes a mode choice covers */
#define GEN_MODE_CHUNK (64u * GEN_MODE_SPAN) /* bytes of a copy predicted at once */
typedef struct gen_prediction {
    uint8_t *pred;  /* GEN_MODES x len bytes, mode by mode; NULL for copies over GEN_MODE_CHUNK */
    uint32_t *cost; /* mispredicted bytes per span, GEN_MODES per span */
} gen_prediction;
int gen_predict_copy(const uint8_t *old_img, uint32_t old_len, const uint8_t *new_img, const gen_model_use *mu,
                     uint32_t new_off, uint32_t old_off, uint32_t len, gen_prediction *out);
void gen_prediction_free(gen_prediction *p);
/* The predictions of ops' copies, each made once: by whichever thread asks
 * first, the encoder (gen_predictor_get) or, when `threaded`, a second
 * thread that works from the last operation down. The same bytes
 * whichever makes them. NULL when out of memory (the encoder then predicts
 * as it goes). */
gen_predictor *gen_predictor_start(const uint8_t *old_img, uint32_t old_len, const uint8_t *new_img,
                                   const gen_model_use *mu, const gen_ops *ops, int threaded);
/* Operation i's prediction, made now unless it was; NULL for anything but
 * a copy, or when it could not be made. */
const gen_prediction *gen_predictor_get(gen_predictor *p, size_t i);
void gen_predictor_stop(gen_predictor *p); /* joins the thread and frees p */

/* Where an encoding of a segment stood at the start of an operation. */
typedef struct gen_range_mark {
    size_t op;
    uint32_t new_off, cursor;
    unsigned mode;
    size_t raw;
    fwd_gen_stats stats;
} gen_range_mark;

/* A segment's decoded payload and its marks: the segment's trials differ
 * only in where they end, so a trial resumes from the last mark the
 * previous one left before its end instead of encoding (and predicting)
 * the operations before it again. */
typedef struct gen_range {
    gen_buf raw;
    const gen_ops *ops; /* what the marks were made for */
    const fwd_model *model;
    uint32_t start;
    gen_range_mark *marks;
    size_t n, cap;
    size_t stable; /* raw's first bytes unchanged since the coder last read them */
} gen_range;

/* gen_encode.c: the decoded payload of the segment covering [start, end)
 * into r->raw, and its counts into *stats. */
int gen_encode_range(const uint8_t *old_img, uint32_t old_len, const uint8_t *new_img, const gen_ops *ops,
                     const gen_model_use *mu, size_t *op_index, uint32_t start, uint32_t end, gen_range *r,
                     fwd_gen_stats *stats);
void gen_range_free(gen_range *r);

/* gen_rc.c: the range coder's encoder (codec 2). The index finds output
 * matches: earlier positions of the new image with the same 4 bytes. */
typedef struct gen_rc_index {
    const uint8_t *img;
    uint32_t len;
    int32_t *prev; /* nearest earlier position with the same hash of 4 bytes, or -1 */
} gen_rc_index;
int gen_rc_index_build(gen_rc_index *ix, const uint8_t *img, uint32_t len);
void gen_rc_index_free(gen_rc_index *ix);
/* A candidate's own cache for its segment trials, which code the same
 * operations again: the matches found in the index, and the coder's states
 * on the last trial's operations. */
typedef struct gen_rc_memo gen_rc_memo;
gen_rc_memo *gen_rc_memo_new(uint32_t new_len); /* positions 0..new_len */
void gen_rc_memo_free(gen_rc_memo *memo);
/* Codes the operation stream ops[0..n) of the segment whose output starts at
 * out_pos, with `contexts` residual context sets. memo may be NULL; kept:
 * how many bytes of ops are those of the last call with this memo (0: a new
 * segment). Returns the coded length, 0 when it does not fit cap; *used
 * (used may be NULL): the operation bytes coded before it stopped. The
 * bytes are the same whatever the memo and kept. */
size_t gen_rc_encode(const gen_rc_index *ix, gen_rc_memo *memo, unsigned contexts, uint32_t out_pos, const uint8_t *ops,
                     size_t n, size_t kept, uint8_t *out, size_t cap, size_t *used);
/* Codes bytes with the literal model (the model segment). */
size_t gen_rc_encode_bytes(const uint8_t *p, size_t n, uint8_t *out, size_t cap);

/* gen_model.c */
int gen_model_load_address(const uint8_t *img, uint32_t len, uint32_t *load);
/* What a fitted map is worth without building a patch: the mispredicted
 * references it removes (its entries' cost deducted) out of all it saw. */
typedef struct gen_fit_gain {
    uint64_t saved, refs;
    int64_t over_plain; /* mispredictions removed against no prediction at all (the plain candidate's), entries deducted */
} gen_fit_gain;
/* gain may be NULL. */
int gen_model_fit(const uint8_t *old_img, const uint8_t *new_img, uint32_t new_len, const gen_ops *ops, uint32_t load,
                  uint8_t arch, uint32_t max_entries, fwd_model *m, gen_fit_gain *gain);
int gen_model_encode(const fwd_model *m, gen_buf *out);
/* A model with room for the largest map the format allows; free() it. */
fwd_model *gen_model_new(void);
/* dst (from gen_model_new) becomes a copy of src. */
void gen_model_copy(fwd_model *dst, const fwd_model *src);
uint8_t *gen_model_normalize(const uint8_t *img, uint32_t len, uint32_t load, uint8_t arch, const fwd_model *m);

/* gen_key.c */
/* Computes what every signature with key needs once (gen_sign does it
 * otherwise); not while key signs on another thread. */
int gen_key_warm(const fwd_gen_key *key);
int gen_sign(const fwd_gen_key *key, const uint8_t hash[FWD_HASH_SIZE], uint8_t sig[FWD_SIGNATURE_SIZE]);
void gen_key_point(const fwd_gen_key *key, uint8_t point[65]);
int gen_seed_drbg(mbedtls_ctr_drbg_context *drbg, mbedtls_entropy_context *entropy, const char *pers);

/* gen_encrypt.c (FORMAT.md, "Encryption") */
typedef struct gen_rng {
    mbedtls_entropy_context entropy;
    mbedtls_ctr_drbg_context drbg;
} gen_rng;
int gen_rng_init(gen_rng *r, const char *pers);
void gen_rng_free(gen_rng *r);
/* A fresh random content key and nonce: the one path every patch takes. */
int gen_content_key(gen_rng *r, uint8_t key[FWD_CONTENT_KEY_SIZE], uint8_t nonce[FWD_NONCE_SIZE]);
/* Turns a signed plain patch into an encrypted one for opt->recipients:
 * payloads encrypted, chain recomputed over the ciphertext, recipients area
 * inserted, header re-signed. Replaces *patch. */
int gen_encrypt_patch(const fwd_gen_options *opt, const fwd_gen_key *key, uint8_t **patch, size_t *patch_len,
                      fwd_gen_stats *stats);
/* The recipients area of an encrypted patch (its header decoded): FWD_OK and
 * its entries, FWD_ERR_BAD_RECIPIENTS, or FWD_ERR_INCOMPLETE. */
int gen_recipients(const uint8_t *patch, size_t len, uint32_t *count, const uint8_t **entries);

#endif
