/* Private interfaces between the applier's files. */
#ifndef FWD_APPLY_INTERNAL_H
#define FWD_APPLY_INTERNAL_H

#include <stddef.h>


#include "apply_journal.h"
#include "fwd_apply.h"
#include "fwd_crypto.h"
#include "fwd_enc.h"
#include "fwd_model.h"
#include "fwd_rc.h"

/* The fuzzing bypass of the signature check (FORMAT.md, "Refusals"): only
 * when both our macro and the fuzzing engines' convention equal 1, and never
 * in a release (NDEBUG) build. Any other value, or one macro alone, keeps the
 * check. fwd_apply_get_info reports it (fuzzing_unsafe). */
#if defined(FWD_FUZZING_UNSAFE_SKIP_SIGNATURE) && FWD_FUZZING_UNSAFE_SKIP_SIGNATURE == 1 &&                \
    defined(FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION) && FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION == 1
#ifdef NDEBUG
#error "FWD_FUZZING_UNSAFE_SKIP_SIGNATURE in a release (NDEBUG) build"
#endif
#define FWD_SIGNATURE_SKIPPED 1
#else
#define FWD_SIGNATURE_SKIPPED 0
#endif

/* The applier's state, laid in the caller's fwd_apply_ctx storage (checked
 * to fit FWD_APPLY_CTX_SIZE below). */
typedef struct fwd_apply_state {
    const fwd_apply_config *cfg;
    int status;      /* sticky: the first error ends the apply */
    int phase;
    uint8_t resumed;
    uint32_t key_index;
    fwd_header hdr;
    uint8_t prefix[FWD_PREFIX_SIZE];
    uint8_t patch_id[FWD_HASH_SIZE];
    uint32_t window_cap;
    uint32_t payload_cap;

    /* patch stream */
    uint32_t patch_pos;        /* bytes of the patch consumed, from offset 0 */
    uint32_t fill;             /* bytes gathered for the current item */
    uint32_t seg_index;
    uint32_t seg_patch_offset;
    uint32_t out_block;        /* first output block of the current segment */
    uint8_t expect_hash[FWD_HASH_SIZE]; /* chain hash the next segment must have */
    uint8_t seg_hash[FWD_HASH_SIZE];    /* chain hash of the segment being applied */
    uint8_t seg_raw[FWD_SEGMENT_HEADER_SIZE];
    fwd_segment_header seg;
    fwd_sha256_ctx chain_sha;

    /* output */
    uint32_t out_pos;          /* next bank B byte produced */
    uint32_t out_end;          /* end of the current segment's output */
    uint32_t skip_below;       /* resumed: bytes below this are already in flash */
    uint32_t erased_upto;
    uint32_t sector_start;     /* start of the last sector erased */
    uint32_t prog_off;
    uint32_t prog_fill;
    uint8_t prog_buf[FWD_APPLY_PROG_BUF];
    uint8_t check_buf[FWD_APPLY_CHECK_BUF];

    /* operations */
    uint8_t op_state;
    uint8_t op_kind;
    uint8_t varint_bytes;
    uint8_t fill_value;
    uint32_t varint;
    uint32_t op_left;          /* bytes of the current operation still to produce */
    uint32_t run_left;         /* bytes of the current zero or raw run */
    uint32_t old_cursor;
    uint32_t old_pos;
    uint32_t old_buf_off;
    uint32_t old_buf_len;
    uint8_t old_buf[FWD_APPLY_OLD_BUF];

    /* prediction model (model_alg 1) */
#if FWD_APPLY_MODEL
    fwd_model model;           /* its entries are model_start and model_shift */
    uint32_t model_start[FWD_APPLY_MODEL_ENTRIES];
    int32_t model_shift[FWD_APPLY_MODEL_ENTRIES];
    uint8_t predict;           /* FWD_PREDICT_* in force for the coming copies */
    fwd_copy copy;             /* the copy being applied, for the predictor */
    uint32_t pred_off;         /* old offset of pred_buf[0] */
    uint32_t pred_len;         /* predicted bytes held; 0 when none */
    uint8_t pred_buf[FWD_APPLY_PRED_CHUNK];
#endif

    /* journal */
    uint32_t journal_seq;
    uint32_t journal_sector;
    uint32_t journal_slot;     /* offset of the next free record slot */
    uint32_t journal_resume_out;
    uint32_t journal_attempts;
    uint8_t journal_done;      /* the journal already records this apply as finished */
    uint8_t journal_open;      /* this apply has an anchor: its records may be appended */
    uint32_t erases;           /* flash erases of this attempt, bank B and journal */

    /* Fault-injection hardening (apply_header.c): FWD_VERDICT_OK-derived words
     * set from the checks' data, re-checked before bank B is erased and in finish. */
    uint32_t sig_verdict;
    uint32_t chain_verdict;

    /* encryption: the content key exists only as this key schedule */
    fwd_aes128_ctx aes;
    uint8_t enc_ready;         /* aes holds the content key */
    uint8_t recipient_found;
    uint32_t recipients_size;  /* bytes of the recipients area as fed; 0 for a plain patch */
    uint32_t recipients_left;  /* entries still to read */
    uint32_t stream_off;       /* offset of the next payload in the encrypted stream */
    uint8_t recipient[FWD_RECIPIENT_SIZE]; /* this device's entry: public, kept in the journal's anchor */

    /* Buffers: the payload under verification, the zstd ring, and the
     * decoder of the patch's codec. */
    uint8_t payload[FWD_APPLY_MAX_PAYLOAD];
#if FWD_APPLY_CODEC_ZSTD
    uint8_t ring[(2u << FWD_APPLY_MAX_WINDOW_LOG) + 64u];
#endif
    /* The decoders lay 8-byte fields in it: aligned to 8 even where the
     * ABI aligns uint64_t to 4 inside structs (i386). */
    _Alignas(8) union {
        uint64_t align;
        struct {
            fwd_rc_model m;
            fwd_prob residual[FWD_APPLY_RC_CONTEXTS][256];
        } rc;
#if FWD_APPLY_CODEC_ZSTD
        uint8_t zstd[FWD_APPLY_ZSTD_WORKSPACE];
#endif
    } scratch;
} fwd_apply_state;

_Static_assert(sizeof(fwd_apply_state) <= FWD_APPLY_CTX_SIZE, "FWD_APPLY_STATE_SIZE is below the state's size");
_Static_assert(_Alignof(fwd_apply_state) <= _Alignof(fwd_apply_ctx), "fwd_apply_ctx is not aligned for the state");
_Static_assert(offsetof(fwd_apply_state, scratch) % 8 == 0 && _Alignof(fwd_apply_ctx) >= 8,
               "the zstd workspace is not 8-aligned in the context");

_Static_assert(sizeof(((fwd_apply_state *)0)->scratch) <= FWD_APPLY_SCRATCH, "FWD_APPLY_SCRATCH is below the decoder's size");

/* The state inside a caller's context (the library's own capacities). */
static inline fwd_apply_state *fwd_state(fwd_apply_ctx *ctx) { return (fwd_apply_state *)(void *)ctx; }
static inline const fwd_apply_state *fwd_state_c(const fwd_apply_ctx *ctx)
{
    return (const fwd_apply_state *)(const void *)ctx;
}

enum fwd_phase {
    PHASE_PREFIX = 0,  /* gathering the signed header and signature */
    PHASE_RECIPIENTS,  /* encrypted patch: reading the recipients area */
    PHASE_SEG_HEADER,  /* gathering a segment's header (FWD_SEGMENT_HEADER_SIZE bytes) */
    PHASE_PAYLOAD,     /* gathering and hashing a segment's payload */
    PHASE_END,         /* every segment applied; only finish is valid */
    PHASE_DONE,        /* finish succeeded */
    PHASE_FAILED
};

/* apply_crypto.c: with the configured key ctx->key_index; and the content key
 * from ctx->recipient, checked against the signed commitment
 * (fwd_unwrap_entry's results, or FWD_ERR_KEY_COMMITMENT). */
int fwd_verify_signature(fwd_apply_state *ctx, const uint8_t hash[FWD_HASH_SIZE],
                         const uint8_t sig[FWD_SIGNATURE_SIZE]);
int fwd_unwrap_content_key(fwd_apply_state *ctx, uint8_t key[FWD_CONTENT_KEY_SIZE]);

/* apply_header.c: all checks on a signed prefix, and the hash of bank A. */
int fwd_accept_prefix(fwd_apply_state *ctx);

/* Verdicts: success is FWD_VERDICT_OK, not zero, and is computed from the
 * compared data, so that one skipped branch does not make a failed check pass. */
#define FWD_VERDICT_OK 0x5AA5C33Cu
uint32_t fwd_verdict_equal(const uint8_t *a, const uint8_t *b, size_t n);
/* The second, independent signature check: the prefix still hashes to the
 * verified patch id and the signature's verdict word is intact. */
int fwd_signature_holds(const fwd_apply_state *ctx);

/* apply_output.c */
void fwd_out_begin(fwd_apply_state *ctx, uint32_t start, uint32_t end);
int fwd_out_emit(fwd_apply_state *ctx, const uint8_t *p, uint32_t n);
int fwd_out_end(fwd_apply_state *ctx);
int fwd_hash_area(fwd_apply_state *ctx, fwd_area area, uint32_t size, uint8_t out[FWD_HASH_SIZE]);

/* apply_ops.c: the interpreter's states (ctx->op_state). A byte-stream
 * codec feeds bytes; the range coder decodes the field the state asks for and
 * hands varint fields over as values. */
enum fwd_op_state {
    OS_TAG = 0,   /* reading an operation tag */
    OS_DELTA,     /* COPY: reading the old-position delta */
    OS_ZEROS,     /* COPY: reading a zero-run length */
    OS_RAW_LEN,   /* COPY: reading a raw-run length */
    OS_RAW,       /* COPY: consuming raw residual bytes */
    OS_INSERT,    /* INSERT: consuming literal bytes */
    OS_FILL       /* FILL: reading the fill byte */
};
void fwd_ops_begin(fwd_apply_state *ctx);
/* The value of the varint field the current state expects. */
int fwd_ops_value(fwd_apply_state *ctx, uint32_t v);
int fwd_ops_feed(fwd_apply_state *ctx, const uint8_t *in, size_t n);
int fwd_ops_end(fwd_apply_state *ctx);

/* apply_decode.c: runs a verified payload through the codec into the operations. */
int fwd_decode_payload(fwd_apply_state *ctx);

/* apply_unwrap.c: the encryption policy, the recipients area, the content key. */
int fwd_enc_policy(const fwd_apply_state *ctx);
void fwd_enc_reset(fwd_apply_state *ctx);
void fwd_enc_wipe(fwd_apply_state *ctx);
uint32_t fwd_recipients_want(const fwd_apply_state *ctx);
/* ctx->payload holds the next item of the area; *done once the content key is ready. */
int fwd_recipients_item(fwd_apply_state *ctx, int *done);
int fwd_enc_unwrap(fwd_apply_state *ctx);

/* apply_decrypt.c */
void fwd_decrypt_payload(fwd_apply_state *ctx);
/* Resumed at `segment`, fed from patch_offset: unwrap again from the anchored entry. */
int fwd_enc_resume(fwd_apply_state *ctx, uint32_t patch_offset, uint32_t segment);

/* apply_main.c: the area is done (or absent): open the journal, expect segment 0. */
int fwd_begin_segments(fwd_apply_state *ctx);

/* apply_model.c: decodes and checks the model segment into ctx->model. */
int fwd_model_segment(fwd_apply_state *ctx);

/* apply_journal.c: storage. */
typedef struct fwd_journal_scan {
    int found;
    uint32_t sector, slot;   /* where the newest entry lies (slot 0: its anchor) */
    uint32_t anchor_seq;     /* its sector's anchor sequence number */
    uint32_t next_slot;      /* first slot after every programmed one in that sector */
    fwd_journal_record rec;
} fwd_journal_scan;
void fwd_journal_read(fwd_apply_state *ctx, fwd_journal_scan *best);
/* A journal sector holds this patch's anchor and two records (or there is no journal). */
int fwd_journal_fits(const fwd_apply_state *ctx);
int fwd_journal_anchor(fwd_apply_state *ctx, uint32_t sector, uint32_t magic);
int fwd_journal_append(fwd_apply_state *ctx, const fwd_journal_record *r);

/* apply_resume.c: decisions. */
enum fwd_journal_action {
    FWD_JP_FRESH,   /* nothing to resume: the caller feeds from 0 */
    FWD_JP_RESUME,  /* resume the newest record */
    FWD_JP_FINISH,  /* the newest record says DONE: finish again */
    FWD_JP_FAILED,  /* the patch failed here: FWD_ERR_PATCH_FAILED until FWD_APPLY_RESTART */
    FWD_JP_LIMIT    /* FWD_APPLY_MAX_RESUMES resumes without progress: FWD_ERR_RESUME_LIMIT */
};
int fwd_journal_policy(const fwd_journal_scan *best, unsigned flags);
int fwd_journal_load(fwd_apply_state *ctx, unsigned flags, uint32_t *resume_offset);
int fwd_journal_start(fwd_apply_state *ctx);
int fwd_journal_checkpoint(fwd_apply_state *ctx);
int fwd_journal_end(fwd_apply_state *ctx, uint32_t state);

#endif
