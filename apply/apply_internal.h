/* Private interfaces between the applier's files. */
#ifndef FWD_APPLY_INTERNAL_H
#define FWD_APPLY_INTERNAL_H

#include "fwd_apply.h"
#include "fwd_crypto.h"

enum fwd_phase {
    PHASE_PREFIX = 0,  /* gathering the signed header and signature */
    PHASE_RECIPIENTS,  /* encrypted patch: reading the recipients area */
    PHASE_SEG_HEADER,  /* gathering a segment's 72-byte header */
    PHASE_PAYLOAD,     /* gathering and hashing a segment's payload */
    PHASE_END,         /* every segment applied; only finish is valid */
    PHASE_DONE,        /* finish succeeded */
    PHASE_FAILED
};

/* apply_crypto.c. Between begin and end, mbedTLS allocates from the scratch
 * area on device builds; end with wipe set clears it afterwards. */
void fwd_mbedtls_heap_begin(fwd_apply_ctx *ctx);
void fwd_mbedtls_heap_end(fwd_apply_ctx *ctx, int wipe);
int fwd_verify_signature(fwd_apply_ctx *ctx, const uint8_t pubkey[65], const uint8_t hash[FWD_HASH_SIZE],
                         const uint8_t sig[FWD_SIGNATURE_SIZE]);

/* apply_header.c: all checks on a signed prefix, and the hash of bank A. */
int fwd_accept_prefix(fwd_apply_ctx *ctx);

/* apply_output.c */
void fwd_out_begin(fwd_apply_ctx *ctx, uint32_t start, uint32_t end);
int fwd_out_emit(fwd_apply_ctx *ctx, const uint8_t *p, uint32_t n);
int fwd_out_end(fwd_apply_ctx *ctx);
int fwd_hash_area(fwd_apply_ctx *ctx, fwd_area area, uint32_t size, uint8_t out[FWD_HASH_SIZE]);

/* apply_ops.c */
void fwd_ops_begin(fwd_apply_ctx *ctx);
int fwd_ops_feed(fwd_apply_ctx *ctx, const uint8_t *in, size_t n);
int fwd_ops_end(fwd_apply_ctx *ctx);

/* apply_decode.c: runs a verified payload through the codec into the operations. */
int fwd_decode_payload(fwd_apply_ctx *ctx);

/* apply_unwrap.c: the encryption policy, the recipients area, the content key. */
int fwd_enc_policy(const fwd_apply_ctx *ctx);
void fwd_enc_reset(fwd_apply_ctx *ctx);
void fwd_enc_wipe(fwd_apply_ctx *ctx);
uint32_t fwd_recipients_want(const fwd_apply_ctx *ctx);
/* ctx->payload holds the next item of the area; *done once the content key is ready. */
int fwd_recipients_item(fwd_apply_ctx *ctx, int *done);
int fwd_enc_unwrap(fwd_apply_ctx *ctx);

/* apply_decrypt.c */
void fwd_decrypt_payload(fwd_apply_ctx *ctx);
/* Resumed at `segment`, fed from patch_offset: unwrap again from the anchored entry. */
int fwd_enc_resume(fwd_apply_ctx *ctx, uint32_t patch_offset, uint32_t segment);

/* apply_main.c: the area is done (or absent): open the journal, expect segment 0. */
int fwd_begin_segments(fwd_apply_ctx *ctx);

/* apply_model.c: decodes and checks the model segment into ctx->model. */
int fwd_model_segment(fwd_apply_ctx *ctx);

/* apply_journal.c */
int fwd_journal_load(fwd_apply_ctx *ctx, unsigned flags, uint32_t *resume_offset);
int fwd_journal_start(fwd_apply_ctx *ctx);
int fwd_journal_checkpoint(fwd_apply_ctx *ctx);
int fwd_journal_done(fwd_apply_ctx *ctx);

#endif
