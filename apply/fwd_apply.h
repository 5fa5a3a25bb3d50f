/* fwdelta applier: the device side.
 *
 * Rebuilds a new firmware image into the spare flash bank (bank B) from the
 * running image (bank A) and a signed patch that arrives in chunks of any
 * size. No heap, no OS: all state lives in one fwd_apply_ctx whose size is
 * fixed at compile time, and all flash access goes through the callbacks in
 * fwd_apply_config. Bank A is only ever read.
 *
 * Usage:
 *   fwd_apply_init(&ctx, &cfg, 0, &resume_offset);   // reads the journal
 *   feed the patch from resume_offset on: fwd_apply_feed(&ctx, buf, n) ...
 *   fwd_apply_finish(&ctx);                          // FWD_OK: bank B verified
 *
 * Nothing reaches bank B before the header signature, the device checks
 * (product, rollback, sizes) and the SHA-256 of bank A have passed, and no
 * segment's output is programmed before the segment matches the hash chain.
 */
#ifndef FWD_APPLY_H
#define FWD_APPLY_H

#include <stddef.h>
#include <stdint.h>

#include <mbedtls/aes.h>
#include <mbedtls/sha256.h>

#include "fwd_crypto.h"
#include "fwd_format.h"
#include "fwd_model.h"
#include "fwd_status.h"

/* Compile-time capacities. The defaults suit a host; a device build sets them
 * to what it can afford, and patches that need more are refused with
 * FWD_ERR_NO_MEMORY before anything is written. */
#ifndef FWD_APPLY_MAX_WINDOW_LOG
#define FWD_APPLY_MAX_WINDOW_LOG 16 /* zstd window; blocks must fit zstd's literal buffer */
#endif
#ifndef FWD_APPLY_MAX_PAYLOAD
#define FWD_APPLY_MAX_PAYLOAD (1u << 20) /* largest segment payload held for verification */
#endif
#ifndef FWD_APPLY_ZSTD_WORKSPACE
#define FWD_APPLY_ZSTD_WORKSPACE (96u * 1024u) /* ZSTD_estimateDCtxSize() of the linked zstd */
#endif
#ifndef FWD_APPLY_MAX_KEYS
#define FWD_APPLY_MAX_KEYS 4
#endif
#ifndef FWD_APPLY_MODEL
#define FWD_APPLY_MODEL 1 /* 0: refuse model patches and save the model's 2 KiB */
#endif
#ifndef FWD_APPLY_ENCRYPTION
#define FWD_APPLY_ENCRYPTION 1 /* 0: refuse encrypted patches; no AES, HMAC, HKDF or ECDH code is linked */
#endif
#define FWD_APPLY_PRED_CHUNK 64u /* old bytes predicted at a time */
#define FWD_APPLY_PROG_BUF 256u  /* program chunk; a multiple of every supported program unit */
#define FWD_APPLY_OLD_BUF 256u   /* read-ahead window into bank A */
#define FWD_APPLY_CHECK_BUF 64u  /* read-back comparison piece */
#define FWD_APPLY_MAX_RESUMES 16u /* resumes without progress before the journal is discarded */

typedef enum fwd_area {
    FWD_AREA_OLD = 0,     /* bank A: the running image, never written */
    FWD_AREA_NEW = 1,     /* bank B: where the new image is built */
    FWD_AREA_JOURNAL = 2  /* resume journal, owned by the applier */
} fwd_area;

typedef struct fwd_apply_config {
    /* Flash callbacks: return 0 on success, anything else on failure.
     * Offsets are relative to the start of the area. prog and erase are never
     * called with FWD_AREA_OLD. */
    int (*read)(void *user, fwd_area area, uint32_t off, void *buf, uint32_t len);
    int (*prog)(void *user, fwd_area area, uint32_t off, const void *buf, uint32_t len);
    int (*erase)(void *user, fwd_area area, uint32_t off, uint32_t len);
    /* Size of the erase sector of bank B that starts at off (mixed-sector
     * flash); NULL when every sector of bank B is block_size bytes. */
    uint32_t (*sector_size)(void *user, uint32_t off);
    void *user;

    uint32_t old_bank_size;   /* bytes of bank A that may hold the base image */
    uint32_t new_bank_size;   /* bytes of bank B */
    uint32_t block_size;      /* erase unit patches must be built for */
    uint32_t prog_size;       /* program unit: power of two, 1 .. 256 */
    uint32_t journal_size;    /* 0: no journal, an interrupted apply starts over */
    uint32_t journal_sector_size;

    const uint8_t (*pubkeys)[65]; /* uncompressed P-256 points accepted as signers */
    uint32_t pubkey_count;        /* 1 .. FWD_APPLY_MAX_KEYS */
    uint8_t product_id[FWD_PRODUCT_ID_SIZE];
    uint32_t min_security_version;
    uint8_t allow_same_version;   /* accept security_version == min_security_version */

    uint8_t max_window_log;  /* 0: FWD_APPLY_MAX_WINDOW_LOG */
    uint32_t max_payload;    /* 0: FWD_APPLY_MAX_PAYLOAD */

    /* Encrypted patches (FORMAT.md, "Encryption"). device_key: the device's
     * P-256 private scalar (32 bytes, big-endian), read only while a content
     * key is unwrapped, never copied; NULL: encrypted patches are refused.
     * device_key_id: the key id of its public key, which selects the device's
     * recipient entry. require_encryption: refuse plain patches. */
    const uint8_t *device_key;
    uint8_t device_key_id[FWD_KEY_ID_SIZE];
    uint8_t require_encryption;
} fwd_apply_config;

/* Flags for fwd_apply_init. */
#define FWD_APPLY_RESTART 1u /* ignore an unfinished apply in the journal */

typedef struct fwd_apply_info {
    uint8_t resumed;          /* init found an unfinished apply of this patch */
    uint8_t patch_id[FWD_HASH_SIZE];
    uint32_t resume_offset;   /* patch offset to feed from */
    uint32_t resume_out;      /* bank B bytes already programmed and verified */
    uint32_t segments_done;
    uint32_t segment_count;
    uint32_t out_done;        /* bank B bytes rebuilt so far */
    uint32_t new_size;
} fwd_apply_info;

/* The context. Its fields are private; its size is what the device pays. */
typedef struct fwd_apply_ctx {
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
    mbedtls_sha256_context chain_sha;

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
    fwd_model model;
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

    /* encryption: the content key exists only as this key schedule */
    mbedtls_aes_context aes;
    uint8_t enc_ready;         /* aes holds the content key */
    uint8_t recipient_found;
    uint32_t recipients_size;  /* bytes of the recipients area as fed; 0 for a plain patch */
    uint32_t recipients_left;  /* entries still to read */
    uint32_t stream_off;       /* offset of the next payload in the encrypted stream */
    uint8_t recipient[FWD_RECIPIENT_SIZE]; /* this device's entry: public, kept in the journal's anchor */

    /* Buffers: the payload under verification, the zstd ring, and a scratch
     * area shared by signature verification (at init) and the zstd decoder
     * (afterwards), which are never needed at the same time. */
    uint8_t payload[FWD_APPLY_MAX_PAYLOAD];
    uint8_t ring[(2u << FWD_APPLY_MAX_WINDOW_LOG) + 64u];
    union {
        uint64_t align;
        uint8_t zstd[FWD_APPLY_ZSTD_WORKSPACE];
    } scratch;
} fwd_apply_ctx;

/* Prepares ctx for an apply. Reads the journal: when it holds an unfinished
 * apply (and flags lacks FWD_APPLY_RESTART), re-verifies that patch's signed
 * header and bank A and sets *resume_offset to the patch offset to feed from;
 * otherwise *resume_offset is 0. */
int fwd_apply_init(fwd_apply_ctx *ctx, const fwd_apply_config *cfg, unsigned flags,
                   uint32_t *resume_offset);

/* Consumes len bytes of the patch. Returns FWD_OK or an error; after an error
 * every call returns that error until the next fwd_apply_init. */
int fwd_apply_feed(fwd_apply_ctx *ctx, const void *data, size_t len);

/* Ends the apply: FWD_OK only when every segment was applied and bank B
 * hashes to the signed new_sha256; FWD_ERR_INCOMPLETE when the patch stopped
 * early. */
int fwd_apply_finish(fwd_apply_ctx *ctx);

void fwd_apply_get_info(const fwd_apply_ctx *ctx, fwd_apply_info *info);

#endif
