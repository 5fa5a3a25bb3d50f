/* Private interfaces between the generator's files. */
#ifndef FWD_GEN_INTERNAL_H
#define FWD_GEN_INTERNAL_H

#include "fwd_crypto.h"
#include "fwd_gen.h"

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

int gen_buf_reserve(gen_buf *b, size_t extra);
int gen_buf_put(gen_buf *b, const void *p, size_t n);
int gen_buf_varint(gen_buf *b, uint32_t v);

/* gen_match.c: copy/insert operations covering the whole new image. */
int gen_match(const uint8_t *old_img, uint32_t old_len, const uint8_t *new_img, uint32_t new_len,
              gen_ops *ops, const fwd_gen_options *opt);

/* gen_encode.c: the decoded payload of the segment covering [start, end). */
int gen_encode_range(const uint8_t *old_img, const uint8_t *new_img, const gen_ops *ops, size_t *op_index,
                     uint32_t start, uint32_t end, gen_buf *out, fwd_gen_stats *stats);

/* gen_key.c */
int gen_sign(const fwd_gen_key *key, const uint8_t hash[FWD_HASH_SIZE], uint8_t sig[FWD_SIGNATURE_SIZE]);
void gen_key_point(const fwd_gen_key *key, uint8_t point[65]);

#endif
